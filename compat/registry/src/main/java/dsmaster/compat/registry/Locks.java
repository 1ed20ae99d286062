package dsmaster.compat.registry;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.data.Stat;

/**
 * Curator {@code InterProcessMutex} on the lock directories a DolphinScheduler master uses,
 * with the client configured as DolphinScheduler's ZookeeperRegistry does (namespace
 * {@code dolphinscheduler}, ExponentialBackoffRetry(60 ms, 5, 300 ms), 30 s session, 7.5 s
 * connection timeout) and one fresh mutex per acquisition, as DolphinScheduler's
 * {@code acquireLock} creates.
 *
 * <p>Inside a lock on {@code DIR} the holder creates the ephemeral marker
 * {@code /compat-lock/<DIR with '/' as '_'>/inside} (it must not exist) and increments the
 * sibling {@code counter} with a versioned setData (nobody else may have written it), then
 * deletes the marker. The Rust side of the test does the same through dsmaster's registry.
 */
final class Locks {
    private Locks() {
    }

    static CuratorFramework connect(String connect) throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .namespace("dolphinscheduler")
                .retryPolicy(new ExponentialBackoffRetry(60, 5, 300))
                .sessionTimeoutMs(30_000)
                .connectionTimeoutMs(7_500)
                .build();
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("Curator did not connect to " + connect);
        }
        return client;
    }

    static String markerBase(String dir) {
        return "/compat-lock/" + dir.substring(1).replace('/', '_');
    }

    static String defaultData() {
        return new String(CuratorFrameworkFactory.builder().getDefaultData(), StandardCharsets.UTF_8);
    }

    /** lock CONNECT ROUNDS THREADS DIR[,DIR...]: prints READY, waits for GO, runs, prints DONE. */
    static int contend(String[] args, BufferedReader in, PrintStream out) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: lock CONNECT ROUNDS THREADS DIR[,DIR...]");
            return 2;
        }
        final int rounds = Integer.parseInt(args[1]);
        final int threads = Integer.parseInt(args[2]);
        final String[] dirs = args[3].split(",");
        final CuratorFramework client = connect(args[0]);
        final AtomicLong done = new AtomicLong();
        final AtomicLong violations = new AtomicLong();
        out.println("READY\t" + defaultData());
        out.flush();
        String go = in.readLine();
        if (!"GO".equals(go)) {
            System.err.println("lock: expected GO, got " + go);
            client.close();
            return 2;
        }
        long start = System.nanoTime();
        Thread[] workers = new Thread[threads];
        final Throwable[] failure = new Throwable[1];
        for (int t = 0; t < threads; t++) {
            final int id = t;
            workers[t] = new Thread(() -> {
                try {
                    for (int i = 0; i < rounds; i++) {
                        String dir = dirs[(i + id) % dirs.length];
                        InterProcessMutex mutex = new InterProcessMutex(client, dir);
                        mutex.acquire();
                        try {
                            String problem = inside(client, dir, "java-" + id);
                            if (problem != null) {
                                violations.incrementAndGet();
                                synchronized (out) {
                                    out.println("VIOLATION\t" + problem);
                                    out.flush();
                                }
                            }
                        } finally {
                            mutex.release();
                        }
                        done.incrementAndGet();
                    }
                } catch (Throwable e) {
                    synchronized (failure) {
                        failure[0] = e;
                    }
                }
            }, "contender-" + t);
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        client.close();
        if (failure[0] != null) {
            out.println("FAILED\t" + failure[0]);
            failure[0].printStackTrace();
            return 1;
        }
        out.println("DONE\trounds=" + done.get() + "\tviolations=" + violations.get() + "\tmillis=" + millis);
        return 0;
    }

    /** The critical section; returns a description of a mutual-exclusion breach, or null. */
    static String inside(CuratorFramework client, String dir, String who) throws Exception {
        String base = markerBase(dir);
        String problem = null;
        try {
            client.create().withMode(CreateMode.EPHEMERAL).forPath(base + "/inside", who.getBytes(StandardCharsets.UTF_8));
        } catch (KeeperException.NodeExistsException e) {
            String other;
            try {
                other = new String(client.getData().forPath(base + "/inside"), StandardCharsets.UTF_8);
            } catch (KeeperException.NoNodeException gone) {
                other = "?";
            }
            return dir + ": " + who + " entered while " + other + " was inside";
        }
        Stat stat = new Stat();
        byte[] raw = client.getData().storingStatIn(stat).forPath(base + "/counter");
        long n = Long.parseLong(new String(raw, StandardCharsets.UTF_8).trim());
        if (ThreadLocalRandom.current().nextInt(4) == 0) {
            Thread.sleep(1);
        }
        try {
            client.setData().withVersion(stat.getVersion())
                    .forPath(base + "/counter", Long.toString(n + 1).getBytes(StandardCharsets.UTF_8));
        } catch (KeeperException.BadVersionException e) {
            problem = dir + ": counter changed under " + who;
        }
        client.delete().forPath(base + "/inside");
        return problem;
    }

    /** hold CONNECT DIR: prints DATA, takes the mutex, prints HELD, releases on any stdin line. */
    static int hold(String[] args, BufferedReader in, PrintStream out) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: hold CONNECT DIR");
            return 2;
        }
        CuratorFramework client = connect(args[0]);
        out.println("DATA\t" + defaultData());
        out.flush();
        InterProcessMutex mutex = new InterProcessMutex(client, args[1]);
        mutex.acquire();
        out.println("HELD");
        out.flush();
        in.readLine();
        mutex.release();
        out.println("RELEASED");
        out.flush();
        client.close();
        return 0;
    }
}
