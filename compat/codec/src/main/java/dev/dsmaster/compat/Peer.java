package dev.dsmaster.compat;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;

import org.apache.dolphinscheduler.remote.NettyRemotingServer;
import org.apache.dolphinscheduler.remote.command.Command;

/**
 * dsmaster's codec peer: a command-line stand-in for the Java side of the DolphinScheduler
 * 2.0.x command protocol, made of upstream's own classes (see {@link Wire}). Used by
 * {@code tests/compat_codec.rs}, by {@code benches/codec.rs} and by operators
 * ({@code compat/codec/run.sh probe}).
 *
 * <pre>
 *   vectors               one JSON line per conformance vector, then a summary line
 *   decode                hex frames on stdin, one per line: upstream decodes, parses and
 *                         re-encodes each; prints the resulting hex (or "ERROR ...")
 *   serve PORT            upstream's NettyRemotingServer answering like a worker/master
 *   client HOST:PORT      upstream's NettyRemotingClient sends every vector, awaits replies
 *   probe HOST:PORT       HEART_BEAT + harmless CACHE_EXPIRE, checks the connection stays up
 *   bench N               N TASK_EXECUTE_REQUEST frames through upstream's codec, 1 thread
 *   session               line-driven mix of the above for tests (one JVM per release):
 *                         "vectors", "decode HEX", "serve", "client HOST:PORT", "quit"
 *   release               prints the upstream release on the classpath
 * </pre>
 */
public final class Peer {
    private Peer() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "";
        int code = 0;
        switch (mode) {
            case "vectors":
                Vectors.print(release());
                break;
            case "decode":
                decodeStream(System.in, false);
                break;
            case "serve":
                Live.serve(Integer.parseInt(arg(args, 1, "serve PORT")));
                Thread.currentThread().join();
                break;
            case "client":
                code = Live.client(arg(args, 1, "client HOST:PORT"), 15_000) ? 0 : 1;
                break;
            case "probe":
                code = Live.probe(arg(args, 1, "probe HOST:PORT")) ? 0 : 1;
                break;
            case "bench":
                Bench.run(Long.parseLong(arg(args, 1, "bench N")));
                break;
            case "session":
                session();
                break;
            case "release":
                System.out.println(release());
                break;
            default:
                System.err.println("usage: Peer vectors|decode|serve PORT|client HOST:PORT|probe HOST:PORT|bench N|session|release");
                code = 2;
        }
        System.out.flush();
        // Netty's event loops are not daemons.
        System.exit(code);
    }

    static String arg(String[] args, int i, String usage) {
        if (args.length <= i) {
            System.err.println("usage: Peer " + usage);
            System.exit(2);
        }
        return args[i];
    }

    /** The DolphinScheduler release whose remote module is on the classpath. */
    static String release() {
        String path = "/META-INF/maven/org.apache.dolphinscheduler/dolphinscheduler-remote/pom.properties";
        try (InputStream in = Command.class.getResourceAsStream(path)) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (Exception e) {
            return "unknown";
        }
    }

    static void decodeStream(InputStream input, boolean json) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(input, StandardCharsets.US_ASCII));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (!line.trim().isEmpty()) {
                decodeLine(line, json);
            }
        }
    }

    /**
     * One frame in, upstream's reading of it out: NettyDecoder, JSONUtils.parseObject into
     * the type's class (and the inner context for TASK_EXECUTE_REQUEST), convert2Command with
     * the received opaque, NettyEncoder.
     */
    static void decodeLine(String hex, boolean json) {
        try {
            List<Command> frames = Wire.decode(Wire.unhex(hex));
            if (frames.size() != 1) {
                throw new IllegalArgumentException("expected one whole frame, upstream decoded " + frames.size());
            }
            String out = Wire.hex(Wire.encode(Wire.reserialize(frames.get(0))));
            if (json) {
                Wire.emit(Wire.line("event", "decoded", "hex", out));
            } else {
                System.out.println(out);
            }
        } catch (Exception e) {
            String msg = String.valueOf(e).replace('\n', ' ');
            if (json) {
                Wire.emit(Wire.line("event", "decode-error", "error", msg));
            } else {
                System.out.println("ERROR " + msg);
            }
        }
    }

    static void session() throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        NettyRemotingServer server = null;
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            String[] parts = line.trim().split("\\s+", 2);
            try {
                switch (parts[0]) {
                    case "vectors":
                        Vectors.print(release());
                        break;
                    case "decode":
                        decodeLine(parts.length > 1 ? parts[1] : "", true);
                        break;
                    case "serve":
                        if (server == null) {
                            server = Live.serve(Live.freePort());
                        }
                        break;
                    case "client":
                        Live.client(parts[1], 15_000);
                        break;
                    case "quit":
                        return;
                    case "":
                        break;
                    default:
                        Wire.emit(Wire.line("event", "error", "error", "unknown session command " + parts[0]));
                }
            } catch (Exception e) {
                Wire.emit(Wire.line("event", "error", "error", String.valueOf(e)));
            }
        }
    }
}
