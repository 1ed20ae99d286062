package dev.dsmaster.compat;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.dolphinscheduler.common.utils.JSONUtils;
import org.apache.dolphinscheduler.remote.codec.NettyDecoder;
import org.apache.dolphinscheduler.remote.codec.NettyEncoder;
import org.apache.dolphinscheduler.remote.command.Command;
import org.apache.dolphinscheduler.remote.command.CommandContext;
import org.apache.dolphinscheduler.remote.command.CommandType;
import org.apache.dolphinscheduler.service.queue.entity.TaskExecutionContext;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;

/**
 * Upstream's codec, driven in-process: frames are written and read by upstream's own
 * {@code NettyEncoder}/{@code NettyDecoder} inside Netty {@code EmbeddedChannel}s, and bodies
 * are (de)serialized by upstream's command classes and {@code JSONUtils}.
 *
 * <p>Everything that differs between releases (command classes, enum members, setters) is
 * looked up by name at run time, so one source tree compiles against 2.0.2, 2.0.5 and 2.0.6:
 * what a release lacks is reported as absent, never guessed.
 */
final class Wire {
    static final String COMMAND_PACKAGE = "org.apache.dolphinscheduler.remote.command.";

    /** Plain Jackson, only for our own output lines (never for wire bodies). */
    static final ObjectMapper OUT = new ObjectMapper();

    /** Frame type name → body class simple name, for the types with a JSON body. */
    static final Map<String, String> BODY_CLASSES = new LinkedHashMap<>();

    static {
        BODY_CLASSES.put("TASK_EXECUTE_REQUEST", "TaskExecuteRequestCommand");
        BODY_CLASSES.put("TASK_EXECUTE_ACK", "TaskExecuteAckCommand");
        BODY_CLASSES.put("TASK_EXECUTE_RESPONSE", "TaskExecuteResponseCommand");
        BODY_CLASSES.put("DB_TASK_ACK", "DBTaskAckCommand");
        BODY_CLASSES.put("DB_TASK_RESPONSE", "DBTaskResponseCommand");
        BODY_CLASSES.put("TASK_KILL_REQUEST", "TaskKillRequestCommand");
        BODY_CLASSES.put("TASK_KILL_RESPONSE", "TaskKillResponseCommand");
        BODY_CLASSES.put("TASK_KILL_RESPONSE_ACK", "TaskKillAckCommand");
        BODY_CLASSES.put("TASK_RECALL", "TaskRecallCommand");
        BODY_CLASSES.put("TASK_RECALL_ACK", "TaskRecallAckCommand");
        BODY_CLASSES.put("PROCESS_HOST_UPDATE_REQUEST", "HostUpdateCommand");
        BODY_CLASSES.put("STATE_EVENT_REQUEST", "StateEventChangeCommand");
        BODY_CLASSES.put("CACHE_EXPIRE", "CacheExpireCommand");
    }

    private Wire() {
    }

    /** The release's {@code CommandType} member of that name, or null if it has none. */
    static CommandType type(String name) {
        for (CommandType t : CommandType.values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** The upstream class, or null if this release does not have it. */
    static Class<?> classOrNull(String fullName) {
        try {
            return Class.forName(fullName);
        } catch (ClassNotFoundException e) {
            return null;
        }
    }

    static Class<?> bodyClass(String typeName) {
        String simple = BODY_CLASSES.get(typeName);
        return simple == null ? null : classOrNull(COMMAND_PACKAGE + simple);
    }

    /** Frames one command with upstream's encoder. */
    static byte[] encode(Command command) {
        if (command.getContext() == null) {
            // a received frame with an empty or malformed context decodes to null
            command.setContext(new CommandContext());
        }
        EmbeddedChannel ch = new EmbeddedChannel(new NettyEncoder());
        try {
            ch.writeOutbound(command);
            ByteBuf buf = ch.readOutbound();
            try {
                byte[] out = new byte[buf.readableBytes()];
                buf.readBytes(out);
                return out;
            } finally {
                buf.release();
            }
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    /** Decodes every whole frame in {@code bytes} with upstream's decoder. */
    static List<Command> decode(byte[] bytes) {
        EmbeddedChannel ch = new EmbeddedChannel(new NettyDecoder());
        try {
            ch.writeInbound(Unpooled.wrappedBuffer(bytes));
            List<Command> out = new ArrayList<>();
            for (Object o = ch.readInbound(); o != null; o = ch.readInbound()) {
                out.add((Command) o);
            }
            return out;
        } finally {
            ch.finishAndReleaseAll();
        }
    }

    /** A raw command (HEART_BEAT etc.): type, opaque and body bytes as given. */
    static Command raw(String typeName, long opaque, byte[] body) {
        Command c = new Command(opaque);
        c.setType(type(typeName));
        c.setBody(body);
        return c;
    }

    /** Turns a body bean into a frame command with upstream's {@code convert2Command}. */
    static Command toCommand(Object bean, long opaque) throws Exception {
        Command c;
        Method noArg = findMethod(bean.getClass(), "convert2Command", 0);
        if (noArg != null) {
            c = (Command) noArg.invoke(bean);
        } else {
            Method withOpaque = bean.getClass().getMethod("convert2Command", long.class);
            c = (Command) withOpaque.invoke(bean, opaque);
        }
        c.setOpaque(opaque);
        return c;
    }

    /** Parses a frame's body with {@code JSONUtils.parseObject(body, <class of its type>)}. */
    static Object parseBody(Command c) {
        if (c.getType() == null) {
            throw new IllegalArgumentException("type ordinal unknown to this release");
        }
        Class<?> cls = bodyClass(c.getType().name());
        if (cls == null) {
            return null;
        }
        Object bean = JSONUtils.parseObject(c.getBody(), cls);
        if (bean == null) {
            throw new IllegalArgumentException("JSONUtils could not parse the " + c.getType() + " body");
        }
        return bean;
    }

    /** The inner context of a TASK_EXECUTE_REQUEST bean, parsed by upstream. */
    static TaskExecutionContext innerContext(Object requestBean) throws Exception {
        String inner = (String) requestBean.getClass().getMethod("getTaskExecutionContext").invoke(requestBean);
        TaskExecutionContext ctx = JSONUtils.parseObject(inner, TaskExecutionContext.class);
        if (ctx == null) {
            throw new IllegalArgumentException("JSONUtils could not parse the task execution context");
        }
        return ctx;
    }

    /**
     * Upstream's reading and writing of one received command: the body is parsed into its
     * class (and a TASK_EXECUTE_REQUEST's inner context into {@code TaskExecutionContext}),
     * then written again as upstream would send it, with the received opaque.
     */
    static Command reserialize(Command received) throws Exception {
        Object bean = parseBody(received);
        if (bean == null) {
            return raw(received.getType().name(), received.getOpaque(), received.getBody());
        }
        if ("TASK_EXECUTE_REQUEST".equals(received.getType().name())) {
            TaskExecutionContext ctx = innerContext(bean);
            Object rebuilt = bean.getClass().getConstructor(String.class).newInstance(JSONUtils.toJsonString(ctx));
            return toCommand(rebuilt, received.getOpaque());
        }
        return toCommand(bean, received.getOpaque());
    }

    static Method findMethod(Class<?> cls, String name, int params) {
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(name) && m.getParameterCount() == params) {
                return m;
            }
        }
        return null;
    }

    /**
     * Sets bean properties through the release's setters; a property this release does not
     * declare is skipped (the dump of the bean then shows what was really set). Strings are
     * converted to enum constants and Longs to Dates where the setter wants those.
     */
    static Object bean(String fullClassName, Map<String, Object> props) throws Exception {
        Class<?> cls = Class.forName(fullClassName);
        Object bean = cls.getDeclaredConstructor().newInstance();
        for (Map.Entry<String, Object> e : props.entrySet()) {
            set(bean, e.getKey(), e.getValue());
        }
        return bean;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static boolean set(Object bean, String prop, Object value) throws Exception {
        String setter = "set" + Character.toUpperCase(prop.charAt(0)) + prop.substring(1);
        Method m = findMethod(bean.getClass(), setter, 1);
        Field field = null;
        if (m == null) {
            // Some classes (e.g. CacheExpireCommand) have no setters; Jackson then writes the
            // field directly, and so do we.
            field = declaredField(bean.getClass(), prop);
            if (field == null) {
                return false;
            }
            field.setAccessible(true);
        }
        Class<?> p = m != null ? m.getParameterTypes()[0] : field.getType();
        Object v = value;
        if (v instanceof String && p.isEnum()) {
            v = Enum.valueOf((Class<? extends Enum>) p, (String) v);
        } else if (v instanceof Long && p == Date.class) {
            v = new Date((Long) v);
        } else if (v instanceof Integer && (p == long.class || p == Long.class)) {
            v = ((Integer) v).longValue();
        }
        if (v == null && p.isPrimitive()) {
            return false;
        }
        if (m != null) {
            m.invoke(bean, v);
        } else {
            field.set(bean, v);
        }
        return true;
    }

    static Field declaredField(Class<?> cls, String name) {
        for (Field f : cls.getDeclaredFields()) {
            if (f.getName().equals(name) && !Modifier.isStatic(f.getModifiers())) {
                return f;
            }
        }
        return null;
    }

    /**
     * The state of an upstream object as plain JSON values, field by field in declaration
     * order: dates as epoch millis, enums by name, map keys as their {@code toString()}
     * (what Jackson writes for a non-String key), nested beans recursively.
     */
    static Object dump(Object o) throws IllegalAccessException {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean) {
            return o;
        }
        if (o instanceof Date) {
            return ((Date) o).getTime();
        }
        if (o instanceof Enum) {
            return ((Enum<?>) o).name();
        }
        if (o instanceof byte[]) {
            return new String((byte[]) o, StandardCharsets.UTF_8);
        }
        if (o instanceof Map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                out.put(String.valueOf(e.getKey()), dump(e.getValue()));
            }
            return out;
        }
        if (o instanceof Collection) {
            List<Object> out = new ArrayList<>();
            for (Object x : (Collection<?>) o) {
                out.add(dump(x));
            }
            return out;
        }
        Map<String, Object> out = new LinkedHashMap<>();
        for (Field f : o.getClass().getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers())) {
                continue;
            }
            f.setAccessible(true);
            out.put(f.getName(), dump(f.get(o)));
        }
        return out;
    }

    static String hex(byte[] b) {
        char[] digits = "0123456789abcdef".toCharArray();
        char[] out = new char[b.length * 2];
        for (int i = 0; i < b.length; i++) {
            out[2 * i] = digits[(b[i] >> 4) & 0xF];
            out[2 * i + 1] = digits[b[i] & 0xF];
        }
        return new String(out);
    }

    static byte[] unhex(String s) {
        String t = s.trim();
        if (t.length() % 2 != 0) {
            throw new IllegalArgumentException("odd number of hex digits");
        }
        byte[] out = new byte[t.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int hi = Character.digit(t.charAt(2 * i), 16);
            int lo = Character.digit(t.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("not hex at offset " + (2 * i));
            }
            out[i] = (byte) (hi << 4 | lo);
        }
        return out;
    }

    /** One output line: a JSON object, written atomically. */
    static void emit(Map<String, Object> line) {
        String text;
        try {
            text = OUT.writeValueAsString(line);
        } catch (Exception e) {
            text = "{\"event\":\"error\",\"error\":\"cannot write output line\"}";
        }
        synchronized (System.out) {
            System.out.println(text);
            System.out.flush();
        }
    }

    static Map<String, Object> line(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** Describes a received command: type, opaque, the frame bytes, the parsed values. */
    static Map<String, Object> describe(String event, Command c) {
        Map<String, Object> m = line("event", event,
                "type", c.getType() == null ? null : c.getType().name(),
                "opaque", c.getOpaque(),
                "hex", hex(encode(c)));
        try {
            Object bean = parseBody(c);
            if (bean != null) {
                m.put("fields", dump(bean));
                if ("TASK_EXECUTE_REQUEST".equals(c.getType().name())) {
                    m.put("context", dump(innerContext(bean)));
                }
            }
        } catch (Exception e) {
            m.put("parseError", String.valueOf(e));
        }
        return m;
    }
}
