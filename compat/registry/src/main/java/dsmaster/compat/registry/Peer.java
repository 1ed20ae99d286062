package dsmaster.compat.registry;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Entry point of the registry compatibility peer (driven by tests/compat_registry.rs).
 *
 * <pre>
 *   slots                              stdin: one master list per line, stdout: Java's order and slots
 *   heartbeat-decode                   stdin: "version TAB text", stdout: the decoded fields
 *   heartbeat-encode VERSION COUNT     stdout: texts from upstream's encoder with their fields
 *   lock CONNECT ROUNDS THREADS DIRS   Curator InterProcessMutex contention rounds
 *   hold CONNECT DIR                   take one Curator mutex, hold it until told to release
 * </pre>
 *
 * Upstream HeartBeat versions are loaded from the class paths named by the system properties
 * {@code heartbeat.classpath.<version>} (see {@link HeartBeats}).
 */
public final class Peer {
    private Peer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
            return;
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8.name());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        int status;
        switch (args[0]) {
            case "slots":
                status = Slots.run(in, out);
                break;
            case "heartbeat-decode":
                status = HeartBeats.decode(in, out);
                break;
            case "heartbeat-encode":
                status = HeartBeats.encode(rest, out);
                break;
            case "lock":
                status = Locks.contend(rest, in, out);
                break;
            case "hold":
                status = Locks.hold(rest, in, out);
                break;
            default:
                usage();
                status = 2;
        }
        out.flush();
        System.exit(status);
    }

    private static void usage() {
        System.err.println("usage: Peer slots | heartbeat-decode | heartbeat-encode VERSION COUNT"
                + " | lock CONNECT ROUNDS THREADS DIR[,DIR...] | hold CONNECT DIR");
    }
}
