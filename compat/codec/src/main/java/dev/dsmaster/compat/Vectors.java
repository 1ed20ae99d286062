package dev.dsmaster.compat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.dolphinscheduler.common.enums.DataType;
import org.apache.dolphinscheduler.common.enums.Direct;
import org.apache.dolphinscheduler.common.enums.ExecutionStatus;
import org.apache.dolphinscheduler.common.enums.TaskTimeoutStrategy;
import org.apache.dolphinscheduler.common.process.Property;
import org.apache.dolphinscheduler.common.utils.JSONUtils;
import org.apache.dolphinscheduler.remote.command.Command;
import org.apache.dolphinscheduler.service.queue.entity.DependenceTaskExecutionContext;
import org.apache.dolphinscheduler.service.queue.entity.TaskExecutionContext;
import org.apache.dolphinscheduler.spi.task.request.DataxTaskExecutionContext;
import org.apache.dolphinscheduler.spi.task.request.ProcedureTaskExecutionContext;
import org.apache.dolphinscheduler.spi.task.request.SQLTaskExecutionContext;
import org.apache.dolphinscheduler.spi.task.request.SqoopTaskExecutionContext;
import org.apache.dolphinscheduler.spi.task.request.UdfFuncRequest;
import org.apache.dolphinscheduler.spi.task.request.UdfType;

/**
 * The conformance vectors: upstream command objects with ordinary and edge values, framed by
 * upstream's encoder. Each is printed as one JSON line with the frame's hex and the values
 * upstream itself reads back from those bytes ({@code fields}; for TASK_EXECUTE_REQUEST also
 * {@code context}, the parsed inner TaskExecutionContext).
 */
final class Vectors {
    static final long D1 = 1_700_000_000_000L; // 2023-11-15 06:13:20 GMT+8
    static final long D_MILLIS = 1_700_000_000_999L; // milliseconds are dropped on the wire
    static final long D_EPOCH = 0L;
    static final long D_1900 = -2_208_988_800_000L;
    static final long D_MAX = 253_402_271_999_000L; // 9999-12-31 23:59:59 GMT+8
    static final long HUGE = 9_007_199_254_740_993L; // 2^53 + 1: not representable as a double

    static final String EMOJI = "任务 ✓ 😀 𝄞";
    static final String CONTROL = "tab\tnl\ncr\rbs\bff\fnul\u0000us\u001fesc\u001bdel\u007fq\"b\\s/ls\u2028end";

    private Vectors() {
    }

    /** One vector: either a body bean or a raw body, plus the opaque to frame it with. */
    static final class Vector {
        final String name;
        final String type;
        final long opaque;
        final Object bean;
        final byte[] raw;

        Vector(String name, String type, long opaque, Object bean, byte[] raw) {
            this.name = name;
            this.type = type;
            this.opaque = opaque;
            this.bean = bean;
            this.raw = raw;
        }

        Command command() throws Exception {
            return bean != null ? Wire.toCommand(bean, opaque) : Wire.raw(type, opaque, raw);
        }
    }

    static Map<String, Object> props(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    /** The vectors this release can express (types or classes it lacks are left out). */
    static List<Vector> all() throws Exception {
        List<Vector> out = new ArrayList<>();
        byte[] hb = "heart_beat".getBytes(StandardCharsets.US_ASCII);
        out.add(new Vector("heart_beat", "HEART_BEAT", 2, null, hb));
        out.add(new Vector("heart_beat.opaque_max", "HEART_BEAT", Long.MAX_VALUE, null, hb));

        request(out, "task_execute_request.shell", 60, shellContext());
        request(out, "task_execute_request.full", HUGE, fullContext());
        request(out, "task_execute_request.empty", 0, new TaskExecutionContext());
        TaskExecutionContext big = shellContext();
        big.setVarPool(bigVarPool());
        request(out, "task_execute_request.big_var_pool", 61, big);

        body(out, "task_execute_ack.spec", "TASK_EXECUTE_ACK", 42, props(
                "taskInstanceId", 101, "processInstanceId", 7, "startTime", D1,
                "host", "192.168.1.20:1234", "status", 1,
                "logPath", "/opt/ds/logs/1.log", "executePath", "/opt/ds/exec/101"));
        body(out, "task_execute_ack.delay", "TASK_EXECUTE_ACK", -1, props(
                "taskInstanceId", 102, "processInstanceId", 7, "startTime", null,
                "host", "10.0.0.1:1234", "status", 12, "logPath", "/l", "executePath", null));
        body(out, "task_execute_ack.edge", "TASK_EXECUTE_ACK", Long.MIN_VALUE, props(
                "taskInstanceId", Integer.MAX_VALUE, "processInstanceId", Integer.MIN_VALUE,
                "startTime", D_MILLIS, "host", EMOJI, "status", 0, "logPath", "",
                "executePath", CONTROL));
        body(out, "task_execute_ack.dates_low", "TASK_EXECUTE_ACK", 3, props(
                "taskInstanceId", 1, "startTime", D_1900));
        body(out, "task_execute_ack.dates_epoch", "TASK_EXECUTE_ACK", 4, props(
                "taskInstanceId", 1, "startTime", D_EPOCH));
        body(out, "task_execute_ack.dates_max", "TASK_EXECUTE_ACK", 5, props(
                "taskInstanceId", 1, "startTime", D_MAX));

        body(out, "task_execute_response.success", "TASK_EXECUTE_RESPONSE", 45, props(
                "taskInstanceId", 101, "processInstanceId", 7, "status", 7, "endTime", D1,
                "processId", 4242, "appIds", "application_1_2",
                "varPool", "[{\"prop\":\"x\",\"direct\":\"OUT\",\"type\":\"VARCHAR\",\"value\":\"1\"}]"));
        body(out, "task_execute_response.kill_before_start", "TASK_EXECUTE_RESPONSE", 46, props(
                "taskInstanceId", 101, "processInstanceId", 7, "status", 9));
        body(out, "task_execute_response.edge", "TASK_EXECUTE_RESPONSE", 47, props(
                "taskInstanceId", Integer.MIN_VALUE, "processInstanceId", Integer.MAX_VALUE,
                "status", 6, "startTime", D1, "host", "h:1", "logPath", EMOJI,
                "executePath", "", "endTime", D_1900, "processId", Integer.MIN_VALUE,
                "appIds", EMOJI, "varPool", CONTROL));
        body(out, "task_execute_response.big_var_pool", "TASK_EXECUTE_RESPONSE", 48, props(
                "taskInstanceId", 101, "processInstanceId", 7, "status", 7, "endTime", D_MILLIS,
                "processId", 1, "appIds", "", "varPool", bigVarPool()));

        body(out, "db_task_ack.success", "DB_TASK_ACK", 44, props("taskInstanceId", 101, "status", 7));
        body(out, "db_task_ack.failure", "DB_TASK_ACK", 49, props("taskInstanceId", -1, "status", 6));
        body(out, "db_task_response.success", "DB_TASK_RESPONSE", 50, props("taskInstanceId", 101, "status", 7));
        body(out, "db_task_response.edge", "DB_TASK_RESPONSE", 51,
                props("taskInstanceId", Integer.MAX_VALUE, "status", Integer.MIN_VALUE));

        body(out, "task_kill_request.spec", "TASK_KILL_REQUEST", 43, props("taskInstanceId", 101));
        body(out, "task_kill_request.min", "TASK_KILL_REQUEST", 52, props("taskInstanceId", Integer.MIN_VALUE));
        body(out, "task_kill_response.spec", "TASK_KILL_RESPONSE", 53, props(
                "taskInstanceId", 101, "host", "192.168.1.20:1234", "status", 7, "processId", 4242,
                "processInstanceId", 7, "appIds", Collections.singletonList("application_1_2")));
        body(out, "task_kill_response.empty_app_ids", "TASK_KILL_RESPONSE", 54, props(
                "taskInstanceId", 101, "host", "", "status", 6, "processId", 0,
                "processInstanceId", Integer.MAX_VALUE, "appIds", new ArrayList<String>()));
        body(out, "task_kill_response.many_app_ids", "TASK_KILL_RESPONSE", 55, props(
                "taskInstanceId", 9, "host", EMOJI, "status", 7, "processId", -1,
                "processInstanceId", 1, "appIds", Arrays.asList("application_1_1", EMOJI, "", CONTROL)));
        body(out, "task_kill_response.nulls", "TASK_KILL_RESPONSE", 56, props());

        body(out, "task_kill_response_ack.success", "TASK_KILL_RESPONSE_ACK", 57,
                props("taskInstanceId", 101, "status", 7));

        body(out, "task_recall.spec", "TASK_RECALL", 58, props(
                "taskInstanceId", 101, "host", null, "processInstanceId", 7,
                "event", "WORKER_REJECT", "status", 0));
        body(out, "task_recall.reallocate", "TASK_RECALL", 59, props(
                "taskInstanceId", Integer.MAX_VALUE, "host", "127.0.0.1:1234", "processInstanceId", 8,
                "event", "REALLOCATE", "status", 0));
        body(out, "task_recall_ack.success", "TASK_RECALL_ACK", 77, props("taskInstanceId", 101, "status", 7));

        body(out, "state_event_request.stop", "STATE_EVENT_REQUEST", 50, props(
                "key", "7-0-7-0", "sourceStatus", "READY_STOP", "sourceProcessInstanceId", 7,
                "sourceTaskInstanceId", 0, "destProcessInstanceId", 7, "destTaskInstanceId", 0));
        body(out, "state_event_request.child_done", "STATE_EVENT_REQUEST", 62, props(
                "key", "12-0-7-101", "sourceStatus", "SUCCESS", "sourceProcessInstanceId", 12,
                "sourceTaskInstanceId", 0, "destProcessInstanceId", 7, "destTaskInstanceId", 101));
        body(out, "state_event_request.nulls", "STATE_EVENT_REQUEST", 63, props());

        body(out, "process_host_update_request.spec", "PROCESS_HOST_UPDATE_REQUEST", 51, props(
                "taskInstanceId", 101, "processHost", "192.168.1.10:5678"));
        body(out, "process_host_update_request.null_host", "PROCESS_HOST_UPDATE_REQUEST", 64,
                props("taskInstanceId", 0));
        body(out, "process_host_update_request.ipv6", "PROCESS_HOST_UPDATE_REQUEST", 65, props(
                "taskInstanceId", 3, "processHost", "[::1]:5678"));

        body(out, "cache_expire.spec", "CACHE_EXPIRE", 52, props(
                "cacheType", "PROCESS_DEFINITION", "cacheKey", "5678901234567"));
        body(out, "cache_expire.worker_group", "CACHE_EXPIRE", 66, props(
                "cacheType", "WORKER_GROUP", "cacheKey", "'all'"));
        body(out, "cache_expire.unicode", "CACHE_EXPIRE", 67, props(
                "cacheType", "TASK_DEFINITION", "cacheKey", EMOJI + "_1"));
        body(out, "cache_expire.nulls", "CACHE_EXPIRE", 68, props());
        return out;
    }

    /** Adds a bean vector if this release has both the frame type and the body class. */
    static void body(List<Vector> out, String name, String type, long opaque, Map<String, Object> props)
            throws Exception {
        Class<?> cls = Wire.bodyClass(type);
        if (Wire.type(type) == null || cls == null) {
            return;
        }
        out.add(new Vector(name, type, opaque, Wire.bean(cls.getName(), props), null));
    }

    static void request(List<Vector> out, String name, long opaque, TaskExecutionContext ctx) throws Exception {
        Class<?> cls = Wire.bodyClass("TASK_EXECUTE_REQUEST");
        Object bean = cls.getConstructor(String.class).newInstance(JSONUtils.toJsonString(ctx));
        out.add(new Vector(name, "TASK_EXECUTE_REQUEST", opaque, bean, null));
    }

    /** The SHELL example of the spec (§6.1), as the Java master fills it. */
    static TaskExecutionContext shellContext() {
        TaskExecutionContext c = new TaskExecutionContext();
        c.setTaskInstanceId(101);
        c.setTaskName("t1");
        c.setFirstSubmitTime(new Date(D1));
        c.setTaskType("SHELL");
        c.setProcessDefineCode(5_678_901_234_567L);
        c.setProcessDefineVersion(1);
        c.setProcessInstanceId(7);
        c.setExecutorId(1);
        c.setCmdTypeIfComplement(0);
        c.setTenantCode("ds");
        c.setQueue("default");
        c.setProjectCode(1_234_567_890_123L);
        c.setTaskParams("{\"rawScript\":\"echo 1\",\"localParams\":[],\"resourceList\":[]}");
        c.setTaskTimeout(Integer.MAX_VALUE);
        c.setWorkerGroup("default");
        c.setResources(new LinkedHashMap<>());
        c.setSqlTaskExecutionContext(new SQLTaskExecutionContext());
        c.setDataxTaskExecutionContext(new DataxTaskExecutionContext());
        c.setSqoopTaskExecutionContext(new SqoopTaskExecutionContext());
        c.setProcedureTaskExecutionContext(new ProcedureTaskExecutionContext());
        return c;
    }

    /** Every field set, with edge values. */
    static TaskExecutionContext fullContext() throws Exception {
        TaskExecutionContext c = new TaskExecutionContext();
        c.setTaskInstanceId(Integer.MAX_VALUE);
        c.setTaskName(EMOJI);
        c.setFirstSubmitTime(new Date(D_MILLIS));
        c.setStartTime(new Date(D_1900));
        Wire.set(c, "endTime", D_MAX); // 2.0.6+ only
        c.setTaskType("SQL");
        c.setHost("192.168.1.20:1234");
        c.setExecutePath("");
        c.setLogPath("/opt/ds/logs/" + EMOJI + ".log");
        c.setTaskJson("{}");
        c.setProcessId(Integer.MIN_VALUE);
        c.setProcessDefineCode(HUGE);
        c.setProcessDefineVersion(-1);
        c.setAppIds("application_1_1,application_1_2");
        c.setProcessInstanceId(7);
        c.setScheduleTime(new Date(D_EPOCH));
        c.setGlobalParams("[{\"prop\":\"g\",\"direct\":\"IN\",\"type\":\"VARCHAR\",\"value\":\"" + EMOJI + "\"}]");
        c.setExecutorId(Integer.MIN_VALUE);
        c.setCmdTypeIfComplement(5);
        c.setTenantCode("租户");
        c.setQueue("");
        c.setProjectCode(Long.MAX_VALUE);
        c.setTaskParams("{\"sql\":\"select 1\"} " + CONTROL);
        c.setEnvFile("/etc/profile");
        c.setEnvironmentConfig("export A=" + CONTROL);
        Map<String, String> defined = new LinkedHashMap<>();
        defined.put("k", "v");
        defined.put("empty", "");
        defined.put(EMOJI, CONTROL);
        c.setDefinedParams(defined);
        c.setTaskAppId("7_101");
        c.setTaskTimeoutStrategy(TaskTimeoutStrategy.WARNFAILED);
        c.setTaskTimeout(0);
        c.setWorkerGroup(EMOJI);
        c.setDelayTime(Integer.MAX_VALUE);
        c.setCurrentExecutionStatus(ExecutionStatus.DELAY_EXECUTION);
        Map<String, String> resources = new LinkedHashMap<>();
        resources.put("/a/z.sh", "ds");
        resources.put("资源/" + EMOJI + ".sql", "租户");
        resources.put("", "");
        c.setResources(resources);

        SQLTaskExecutionContext sql = new SQLTaskExecutionContext();
        sql.setWarningGroupId(Integer.MAX_VALUE);
        sql.setConnectionParams("{\"address\":\"jdbc:mysql://h:3306\",\"user\":\"" + EMOJI + "\"}");
        UdfFuncRequest udf = new UdfFuncRequest();
        udf.setId(3);
        udf.setUserId(1);
        udf.setFuncName("f");
        udf.setClassName("com.example.F");
        udf.setArgTypes("String");
        udf.setDatabase("db");
        udf.setDescription(EMOJI);
        udf.setResourceId(9);
        udf.setResourceName("/udf.jar");
        udf.setType(UdfType.HIVE);
        udf.setCreateTime(new Date(D1));
        udf.setUpdateTime(new Date(D_1900));
        Map<UdfFuncRequest, String> udfs = new LinkedHashMap<>();
        udfs.put(udf, "ds");
        sql.setUdfFuncTenantCodeMap(udfs);
        sql.setDefaultFS("hdfs://nn:8020");
        c.setSqlTaskExecutionContext(sql);

        DataxTaskExecutionContext datax = new DataxTaskExecutionContext();
        datax.setDataSourceId(1);
        datax.setSourcetype(0);
        datax.setSourceConnectionParams("{}");
        datax.setDataTargetId(Integer.MAX_VALUE);
        datax.setTargetType(Integer.MIN_VALUE);
        datax.setTargetConnectionParams(null);
        c.setDataxTaskExecutionContext(datax);
        DependenceTaskExecutionContext dep = new DependenceTaskExecutionContext();
        dep.setDependence("{\"relation\":\"AND\"}");
        c.setDependenceTaskExecutionContext(dep);
        SqoopTaskExecutionContext sqoop = new SqoopTaskExecutionContext();
        sqoop.setDataSourceId(2);
        sqoop.setSourcetype(1);
        sqoop.setSourceConnectionParams(EMOJI);
        sqoop.setDataTargetId(3);
        sqoop.setTargetType(4);
        sqoop.setTargetConnectionParams("");
        c.setSqoopTaskExecutionContext(sqoop);
        c.setVarPool("[]");
        c.setDryRun(1);
        Map<String, Property> params = new LinkedHashMap<>();
        params.put("x", new Property("x", Direct.IN, DataType.VARCHAR, "1"));
        params.put("y", new Property("y", Direct.OUT, DataType.LONG, null));
        params.put(EMOJI, new Property(null, null, null, CONTROL));
        c.setParamsMap(params);
        ProcedureTaskExecutionContext proc = new ProcedureTaskExecutionContext();
        proc.setConnectionParams("{\"p\":1}");
        c.setProcedureTaskExecutionContext(proc);
        return c;
    }

    /** A var pool of about 1 MiB: a JSON array of properties, some non-ASCII. */
    static String bigVarPool() {
        StringBuilder b = new StringBuilder(1 << 20);
        b.append('[');
        for (int i = 0; b.length() < (1 << 20) - 200; i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append("{\"prop\":\"p").append(i).append("\",\"direct\":\"OUT\",\"type\":\"VARCHAR\",\"value\":\"")
                    .append(i % 17 == 0 ? EMOJI : "value-" + i).append("\"}");
        }
        return b.append(']').toString();
    }

    /** Prints every vector, then a summary line with this release's enum (ordinal order). */
    static void print(String release) throws Exception {
        List<Vector> vectors = all();
        for (Vector v : vectors) {
            Command c = v.command();
            byte[] frame = Wire.encode(c);
            List<Command> back = Wire.decode(frame);
            if (back.size() != 1) {
                throw new IllegalStateException(v.name + ": upstream decoded " + back.size() + " frames");
            }
            Command received = back.get(0);
            Map<String, Object> line = Wire.line("event", "vector", "name", v.name, "type", v.type,
                    "ordinal", c.getType().ordinal(), "opaque", v.opaque, "hex", Wire.hex(frame));
            Object bean = Wire.parseBody(received);
            if (bean == null) {
                line.put("fields", Wire.line("body", new String(received.getBody(), StandardCharsets.UTF_8)));
            } else {
                line.put("fields", Wire.dump(bean));
                if ("TASK_EXECUTE_REQUEST".equals(v.type)) {
                    line.put("context", Wire.dump(Wire.innerContext(bean)));
                }
            }
            line.put("javaRoundTrip", Arrays.equals(frame, Wire.encode(Wire.reserialize(received))));
            Wire.emit(line);
        }
        List<String> types = new ArrayList<>();
        for (org.apache.dolphinscheduler.remote.command.CommandType t
                : org.apache.dolphinscheduler.remote.command.CommandType.values()) {
            types.add(t.name());
        }
        Wire.emit(Wire.line("event", "vectors-done", "count", vectors.size(), "release", release,
                "commandTypes", types));
    }
}
