package dsmaster.compat.registry;

import java.io.BufferedReader;
import java.io.File;
import java.io.PrintStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Upstream {@code org.apache.dolphinscheduler.common.utils.HeartBeat}, one class loader per
 * release, so that 13-field (2.0.0-2.0.5) and 14-field (2.0.6+) generations run side by side.
 *
 * <p>Field values are printed exactly: doubles as the decimal form of their raw IEEE-754 bits,
 * integers in decimal, an absent field (diskAvailable before 2.0.6) as {@code -}.
 */
final class HeartBeats {
    /** Getter names in the 14-field order. */
    static final String[] FIELDS = {
        "CpuUsage", "MemoryUsage", "DiskAvailable", "LoadAverage", "AvailablePhysicalMemorySize",
        "MaxCpuloadAvg", "ReservedMemory", "StartupTime", "ReportTime", "ServerStatus", "ProcessId",
        "WorkerHostWeight", "WorkerExecThreadCount", "WorkerWaitingTaskCount",
    };

    private static final Map<String, HeartBeats> LOADED = new HashMap<>();

    private final String version;
    private final Class<?> type;
    private final Method decode;

    private HeartBeats(String version, Class<?> type) throws ReflectiveOperationException {
        this.version = version;
        this.type = type;
        this.decode = type.getMethod("decodeHeartBeat", String.class);
    }

    /** The HeartBeat class of {@code version}, from {@code -Dheartbeat.classpath.<version>}. */
    static synchronized HeartBeats of(String version) throws Exception {
        HeartBeats hb = LOADED.get(version);
        if (hb == null) {
            String cp = System.getProperty("heartbeat.classpath." + version);
            if (cp == null || cp.isEmpty()) {
                throw new IllegalArgumentException("no class path for HeartBeat " + version
                        + " (system property heartbeat.classpath." + version + ")");
            }
            ClassLoader loader = new ChildFirstLoader(urls(cp), HeartBeats.class.getClassLoader());
            hb = new HeartBeats(version,
                    Class.forName("org.apache.dolphinscheduler.common.utils.HeartBeat", true, loader));
            LOADED.put(version, hb);
        }
        return hb;
    }

    /** Upstream {@code decodeHeartBeat}; null when upstream returns null. */
    Object decodeHeartBeat(String text) throws Exception {
        try {
            return decode.invoke(null, text);
        } catch (java.lang.reflect.InvocationTargetException e) {
            if (e.getCause() instanceof Exception) {
                throw (Exception) e.getCause();
            }
            throw e;
        }
    }

    Object get(Object heartBeat, String field) throws Exception {
        return type.getMethod("get" + field).invoke(heartBeat);
    }

    boolean has(String field) {
        try {
            type.getMethod("get" + field);
            return true;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    long startupTime(Object heartBeat) throws Exception {
        return (Long) get(heartBeat, "StartupTime");
    }

    /** All fields, tab-separated, in the 14-field order. */
    String fields(Object heartBeat) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String f : FIELDS) {
            if (sb.length() > 0) {
                sb.append('\t');
            }
            if (!has(f)) {
                sb.append('-');
                continue;
            }
            Object v = get(heartBeat, f);
            if (v instanceof Double) {
                sb.append(Double.doubleToRawLongBits((Double) v));
            } else {
                sb.append(v);
            }
        }
        return sb.toString();
    }

    /** stdin "version TAB text" lines; stdout "OK TAB fields", "NULL" or "ERR TAB exception". */
    static int decode(BufferedReader in, PrintStream out) throws Exception {
        String line;
        int n = 0;
        while ((line = in.readLine()) != null) {
            int tab = line.indexOf('\t');
            if (tab < 0) {
                out.println("ERR\tmalformed request line");
                continue;
            }
            HeartBeats hb = of(line.substring(0, tab));
            String text = line.substring(tab + 1);
            try {
                Object decoded = hb.decodeHeartBeat(text);
                out.println(decoded == null ? "NULL" : "OK\t" + hb.fields(decoded));
            } catch (Exception e) {
                out.println("ERR\t" + e);
            }
            n++;
        }
        System.err.println("heartbeat-decode: " + n + " texts");
        return 0;
    }

    /**
     * COUNT texts from upstream's {@code encodeHeartBeat} (which measures this host), over a
     * spread of configured values; stdout "TEXT TAB text TAB fields" per text.
     */
    static int encode(String[] args, PrintStream out) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: heartbeat-encode VERSION COUNT");
            return 2;
        }
        HeartBeats hb = of(args[0]);
        int count = Integer.parseInt(args[1]);
        Constructor<?> ctor = hb.type.getConstructor(long.class, double.class, double.class, int.class, int.class);
        Method setWaiting = hb.type.getMethod("setWorkerWaitingTaskCount", int.class);
        Method encode = hb.type.getMethod("encodeHeartBeat");
        long[] startups = {0L, 1_700_000_000_000L, System.currentTimeMillis(), Long.MAX_VALUE, -1L};
        double[] loads = {32.0, 0.0, -1.0, 1.0E7, 1.5E-4, 123.456, 8.0};
        double[] reserved = {0.3, 0.0, 1.0E7, 0.001, 2048.75};
        int[] ints = {0, 100, Integer.MAX_VALUE, -1, 7};
        for (int i = 0; i < count; i++) {
            Object b = ctor.newInstance(startups[i % startups.length], loads[i % loads.length],
                    reserved[(i / 2) % reserved.length], ints[i % ints.length], ints[(i / 3) % ints.length]);
            setWaiting.invoke(b, ints[(i / 5) % ints.length]);
            String text = (String) encode.invoke(b);
            out.println("TEXT\t" + text + "\t" + hb.fields(b));
        }
        return 0;
    }

    private static URL[] urls(String classpath) throws MalformedURLException {
        List<URL> urls = new ArrayList<>();
        for (String entry : classpath.split(File.pathSeparator)) {
            if (!entry.isEmpty()) {
                urls.add(new File(entry).toURI().toURL());
            }
        }
        return urls.toArray(new URL[0]);
    }

    /** Prefers its own jars, so two DolphinScheduler/OSHI generations never mix. */
    static final class ChildFirstLoader extends URLClassLoader {
        ChildFirstLoader(URL[] urls, ClassLoader parent) {
            super(urls, parent);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith("java.") || name.startsWith("javax.") || name.startsWith("org.slf4j.")) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) {
                    try {
                        c = findClass(name);
                    } catch (ClassNotFoundException e) {
                        c = super.loadClass(name, false);
                    }
                }
                if (resolve) {
                    resolveClass(c);
                }
                return c;
            }
        }
    }
}
