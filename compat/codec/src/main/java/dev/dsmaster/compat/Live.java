package dev.dsmaster.compat;

import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.dolphinscheduler.remote.NettyRemotingClient;
import org.apache.dolphinscheduler.remote.NettyRemotingServer;
import org.apache.dolphinscheduler.remote.command.Command;
import org.apache.dolphinscheduler.remote.command.CommandType;
import org.apache.dolphinscheduler.remote.config.NettyClientConfig;
import org.apache.dolphinscheduler.remote.config.NettyServerConfig;
import org.apache.dolphinscheduler.remote.utils.Host;
import org.apache.dolphinscheduler.service.queue.entity.TaskExecutionContext;

import io.netty.channel.Channel;

/**
 * Live peers over TCP, built from upstream's own {@code NettyRemotingServer} and
 * {@code NettyRemotingClient}.
 *
 * <p>The server answers like the Java side would: as a worker it acks a TASK_EXECUTE_REQUEST
 * and answers a TASK_KILL_REQUEST; as a master it replies DB_TASK_ACK / DB_TASK_RESPONSE /
 * TASK_KILL_RESPONSE_ACK / TASK_RECALL_ACK on the channel the message came in on. Every
 * received command is printed ({@code server-recv}), every reply too ({@code server-sent}).
 * Processors are registered for every type of the release (upstream drops HEART_BEAT before
 * processor lookup), so a frame that lands on the wrong type is visible.
 */
final class Live {
    private Live() {
    }

    /** Replies that stop a worker's resend loop, per received type. */
    static final Map<String, String> MASTER_REPLIES = Map.of(
            "TASK_EXECUTE_ACK", "DB_TASK_ACK",
            "TASK_EXECUTE_RESPONSE", "DB_TASK_RESPONSE",
            "TASK_KILL_RESPONSE", "TASK_KILL_RESPONSE_ACK",
            "TASK_RECALL", "TASK_RECALL_ACK");

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static NettyRemotingServer serve(int port) {
        NettyServerConfig cfg = new NettyServerConfig();
        cfg.setListenPort(port);
        NettyRemotingServer server = new NettyRemotingServer(cfg);
        for (CommandType t : CommandType.values()) {
            server.registerProcessor(t, Live::onServerCommand);
        }
        server.start();
        Wire.emit(Wire.line("event", "listening", "port", port));
        return server;
    }

    static void onServerCommand(Channel channel, Command command) {
        Wire.emit(Wire.describe("server-recv", command));
        try {
            Command reply = serverReply(command);
            if (reply != null) {
                channel.writeAndFlush(reply).sync();
                Wire.emit(Wire.describe("server-sent", reply));
            }
        } catch (Exception e) {
            Wire.emit(Wire.line("event", "error", "where", "server", "error", String.valueOf(e)));
        }
    }

    static Command serverReply(Command command) throws Exception {
        String type = command.getType().name();
        Object bean = Wire.parseBody(command);
        switch (type) {
            case "TASK_EXECUTE_REQUEST": {
                TaskExecutionContext ctx = Wire.innerContext(bean);
                Object ack = Wire.bean(Wire.bodyClass("TASK_EXECUTE_ACK").getName(), Vectors.props(
                        "taskInstanceId", ctx.getTaskInstanceId(),
                        "processInstanceId", ctx.getProcessInstanceId(),
                        "startTime", Vectors.D1, "host", "127.0.0.1:1234", "status", 1,
                        "logPath", "/tmp/ds/logs/" + ctx.getTaskInstanceId() + ".log",
                        "executePath", "/tmp/ds/exec/" + ctx.getTaskInstanceId()));
                return Wire.toCommand(ack, new Command().getOpaque());
            }
            case "TASK_KILL_REQUEST": {
                int id = (Integer) bean.getClass().getMethod("getTaskInstanceId").invoke(bean);
                Object resp = Wire.bean(Wire.bodyClass("TASK_KILL_RESPONSE").getName(), Vectors.props(
                        "taskInstanceId", id, "host", "127.0.0.1:1234", "status", 7, "processId", 4242,
                        "processInstanceId", 7, "appIds", Arrays.asList("application_1_2")));
                return Wire.toCommand(resp, new Command().getOpaque());
            }
            default:
                break;
        }
        String replyType = MASTER_REPLIES.get(type);
        if (replyType == null || Wire.type(replyType) == null) {
            return null;
        }
        int id = (Integer) bean.getClass().getMethod("getTaskInstanceId").invoke(bean);
        Object ack = Wire.bean(Wire.bodyClass(replyType).getName(),
                Vectors.props("taskInstanceId", id, "status", 7));
        // Only the recall ack echoes the opaque of the frame it answers.
        long opaque = "TASK_RECALL_ACK".equals(replyType) ? command.getOpaque() : new Command().getOpaque();
        return Wire.toCommand(ack, opaque);
    }

    /**
     * Sends every vector of this release to {@code address} through upstream's client, then
     * waits for the replies a master owes (one per ack, result, kill response and recall).
     * Prints {@code client-sent}, {@code client-recv} and finally {@code client-done}.
     */
    static boolean client(String address, long waitMillis) throws Exception {
        NettyRemotingClient client = new NettyRemotingClient(new NettyClientConfig());
        try {
            List<Vectors.Vector> vectors = Vectors.all();
            int expected = 0;
            for (Vectors.Vector v : vectors) {
                if (MASTER_REPLIES.containsKey(v.type) && Wire.type(MASTER_REPLIES.get(v.type)) != null) {
                    expected++;
                }
            }
            CountDownLatch replies = new CountDownLatch(expected);
            AtomicInteger received = new AtomicInteger();
            for (CommandType t : CommandType.values()) {
                client.registerProcessor(t, (channel, command) -> {
                    Wire.emit(Wire.describe("client-recv", command));
                    received.incrementAndGet();
                    replies.countDown();
                });
            }
            Host host = new Host(address);
            Channel channel = client.getChannel(host);
            if (channel == null) {
                Wire.emit(Wire.line("event", "client-done", "ok", false, "error", "cannot connect to " + address));
                return false;
            }
            for (Vectors.Vector v : vectors) {
                Command c = v.command();
                client.send(host, c);
                Map<String, Object> sent = Wire.describe("client-sent", c);
                sent.put("name", v.name);
                Wire.emit(sent);
            }
            boolean all = replies.await(waitMillis, TimeUnit.MILLISECONDS);
            // a little longer, to catch replies nobody asked for
            Thread.sleep(200);
            boolean up = channel.isActive();
            Wire.emit(Wire.line("event", "client-done", "ok", all && up, "expected", expected,
                    "received", received.get(), "connectionUp", up));
            return all && up;
        } finally {
            client.close();
        }
    }

    /**
     * Checks that a master accepts this release's dialect: sends a HEART_BEAT and a harmless
     * CACHE_EXPIRE (2.0.3+; evicts definition code 0, which never exists), then a second
     * HEART_BEAT, and checks that the connection is still up two seconds later. A Java master
     * closes the connection on a type ordinal its release does not know.
     */
    static boolean probe(String address) throws Exception {
        NettyRemotingClient client = new NettyRemotingClient(new NettyClientConfig());
        try {
            Host host = new Host(address);
            Channel channel = client.getChannel(host);
            if (channel == null) {
                Wire.emit(Wire.line("event", "probe", "ok", false, "master", address, "error", "cannot connect"));
                return false;
            }
            List<String> sent = new ArrayList<>();
            byte[] hb = "heart_beat".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            channel.writeAndFlush(Wire.raw("HEART_BEAT", new Command().getOpaque(), hb)).sync();
            sent.add("HEART_BEAT");
            if (Wire.type("CACHE_EXPIRE") != null) {
                Object bean = Wire.bean(Wire.bodyClass("CACHE_EXPIRE").getName(),
                        Vectors.props("cacheType", "PROCESS_DEFINITION", "cacheKey", "0"));
                channel.writeAndFlush(Wire.toCommand(bean, new Command().getOpaque())).sync();
                sent.add("CACHE_EXPIRE");
            }
            Thread.sleep(1000);
            if (channel.isActive()) {
                channel.writeAndFlush(Wire.raw("HEART_BEAT", new Command().getOpaque(), hb)).sync();
                sent.add("HEART_BEAT");
            }
            Thread.sleep(1000);
            boolean up = channel.isActive();
            Set<String> types = new HashSet<>(sent);
            Wire.emit(Wire.line("event", "probe", "ok", up, "master", address, "sent", sent,
                    "ordinals", ordinals(types), "connectionUp", up));
            return up;
        } finally {
            client.close();
        }
    }

    static Map<String, Object> ordinals(Set<String> types) {
        Map<String, Object> m = new java.util.TreeMap<>();
        for (String t : types) {
            m.put(t, Wire.type(t).ordinal());
        }
        return m;
    }
}
