package dev.dsmaster.compat;

import org.apache.dolphinscheduler.common.utils.JSONUtils;
import org.apache.dolphinscheduler.remote.codec.NettyDecoder;
import org.apache.dolphinscheduler.remote.codec.NettyEncoder;
import org.apache.dolphinscheduler.remote.command.Command;
import org.apache.dolphinscheduler.remote.command.DBTaskAckCommand;
import org.apache.dolphinscheduler.remote.command.DBTaskResponseCommand;
import org.apache.dolphinscheduler.remote.command.TaskExecuteAckCommand;
import org.apache.dolphinscheduler.remote.command.TaskExecuteRequestCommand;
import org.apache.dolphinscheduler.remote.command.TaskExecuteResponseCommand;
import org.apache.dolphinscheduler.service.queue.entity.TaskExecutionContext;

import java.util.Date;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;

/**
 * Single-threaded throughput of upstream's codec for TASK_EXECUTE_REQUEST: per frame, the
 * context is serialized with JSONUtils, wrapped, framed by NettyEncoder, deframed by
 * NettyDecoder and both JSON layers parsed back — the whole path a frame takes between a
 * Java master and a Java worker, minus the socket. The context is the spec's SHELL example
 * with a 1 KiB script, the same one the Rust benchmark uses (the first frame's hex is printed
 * so the caller can check that both sides handle the same bytes).
 *
 * Then a second figure, the codec work a Java master does for one task: encode the request;
 * decode the worker's TASK_EXECUTE_ACK and answer DB_TASK_ACK; decode its TASK_EXECUTE_RESPONSE
 * and answer DB_TASK_RESPONSE (2.0.5 TaskAckProcessor, TaskResponseProcessor and
 * TaskResponsePersistThread). The worker's two frames are made once by upstream's encoder and
 * printed in hex, so the Rust side decodes the very same bytes.
 */
final class Bench {
    private Bench() {
    }

    static TaskExecutionContext context() {
        TaskExecutionContext c = Vectors.shellContext();
        StringBuilder script = new StringBuilder();
        for (int i = 0; script.length() < 1024; i++) {
            script.append("echo \\\"step ").append(i).append("\\\" && sleep 0\\n");
        }
        c.setTaskParams("{\"rawScript\":\"" + script + "\",\"localParams\":[],\"resourceList\":[]}");
        return c;
    }

    static void run(long frames) throws Exception {
        TaskExecutionContext ctx = context();
        EmbeddedChannel enc = new EmbeddedChannel(new NettyEncoder());
        EmbeddedChannel dec = new EmbeddedChannel(new NettyDecoder());

        Command first = new TaskExecuteRequestCommand(JSONUtils.toJsonString(ctx)).convert2Command();
        first.setOpaque(1);
        byte[] firstFrame = Wire.encode(first);

        long warm = Math.max(frames / 5, 20_000);
        long sink = loop(ctx, enc, dec, warm);
        long start = System.nanoTime();
        sink += loop(ctx, enc, dec, frames);
        double seconds = (System.nanoTime() - start) / 1e9;
        enc.finishAndReleaseAll();
        dec.finishAndReleaseAll();
        Wire.emit(Wire.line("event", "bench", "frames", frames, "seconds", seconds,
                "framesPerSecond", frames / seconds, "frameBytes", firstFrame.length,
                "frameHex", Wire.hex(firstFrame), "warmupFrames", warm, "sink", sink,
                "java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version")));

        byte[] ack = Wire.encode(ack());
        byte[] response = Wire.encode(response());
        enc = new EmbeddedChannel(new NettyEncoder());
        dec = new EmbeddedChannel(new NettyDecoder());
        long hopSink = hops(ctx, enc, dec, ack, response, warm);
        start = System.nanoTime();
        hopSink += hops(ctx, enc, dec, ack, response, frames);
        seconds = (System.nanoTime() - start) / 1e9;
        enc.finishAndReleaseAll();
        dec.finishAndReleaseAll();
        Wire.emit(Wire.line("event", "bench-hop", "hops", frames, "seconds", seconds,
                "hopsPerSecond", frames / seconds, "ackHex", Wire.hex(ack),
                "responseHex", Wire.hex(response), "warmupHops", warm, "sink", hopSink));
    }

    /** The worker's "running" ack of the benchmark task, as a 2.0.5 worker writes it. */
    static Command ack() {
        TaskExecuteAckCommand a = new TaskExecuteAckCommand();
        a.setTaskInstanceId(101);
        a.setProcessInstanceId(7);
        a.setStartTime(new Date(1_700_000_001_000L));
        a.setHost("192.168.7.2:1234");
        a.setStatus(1);
        a.setLogPath("/opt/dolphinscheduler/logs/20231114/5678901234567_1/7/101.log");
        a.setExecutePath("/tmp/dolphinscheduler/exec/process/1234567890123/5678901234567_1/7/101");
        Command c = a.convert2Command();
        c.setOpaque(2);
        return c;
    }

    /** The worker's result of the benchmark task: SUCCESS with an empty var pool. */
    static Command response() {
        TaskExecuteResponseCommand r = new TaskExecuteResponseCommand(101, 7);
        r.setStatus(7);
        r.setEndTime(new Date(1_700_000_002_000L));
        r.setProcessId(4242);
        r.setAppIds("");
        r.setVarPool("[]");
        Command c = r.convert2Command();
        c.setOpaque(3);
        return c;
    }

    static long hops(TaskExecutionContext ctx, EmbeddedChannel enc, EmbeddedChannel dec,
            byte[] ackBytes, byte[] responseBytes, long n) {
        long sink = 0;
        for (long i = 0; i < n; i++) {
            Command c = new TaskExecuteRequestCommand(JSONUtils.toJsonString(ctx)).convert2Command();
            sink += written(enc, c);

            dec.writeInbound(Unpooled.wrappedBuffer(ackBytes));
            Command a = dec.readInbound();
            TaskExecuteAckCommand ack = JSONUtils.parseObject(a.getBody(), TaskExecuteAckCommand.class);
            sink += written(enc, new DBTaskAckCommand(7, ack.getTaskInstanceId()).convert2Command());

            dec.writeInbound(Unpooled.wrappedBuffer(responseBytes));
            Command r = dec.readInbound();
            TaskExecuteResponseCommand resp = JSONUtils.parseObject(r.getBody(), TaskExecuteResponseCommand.class);
            sink += written(enc, new DBTaskResponseCommand(7, resp.getTaskInstanceId()).convert2Command());
            sink += resp.getStatus() + ack.getStatus();
        }
        return sink;
    }

    /** Encodes one command as the master's channel would, and drops the bytes. */
    static int written(EmbeddedChannel enc, Command c) {
        enc.writeOutbound(c);
        ByteBuf buf = enc.readOutbound();
        int n = buf.readableBytes();
        buf.release();
        return n;
    }

    static long loop(TaskExecutionContext ctx, EmbeddedChannel enc, EmbeddedChannel dec, long n) {
        long sink = 0;
        for (long i = 0; i < n; i++) {
            Command c = new TaskExecuteRequestCommand(JSONUtils.toJsonString(ctx)).convert2Command();
            enc.writeOutbound(c);
            ByteBuf buf = enc.readOutbound();
            dec.writeInbound(buf);
            Command back = dec.readInbound();
            TaskExecuteRequestCommand req = JSONUtils.parseObject(back.getBody(), TaskExecuteRequestCommand.class);
            TaskExecutionContext parsed = JSONUtils.parseObject(req.getTaskExecutionContext(), TaskExecutionContext.class);
            sink += parsed.getTaskInstanceId() + back.getBody().length;
        }
        return sink;
    }
}
