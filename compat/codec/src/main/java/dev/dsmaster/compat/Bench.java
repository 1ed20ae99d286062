package dev.dsmaster.compat;

import org.apache.dolphinscheduler.common.utils.JSONUtils;
import org.apache.dolphinscheduler.remote.codec.NettyDecoder;
import org.apache.dolphinscheduler.remote.codec.NettyEncoder;
import org.apache.dolphinscheduler.remote.command.Command;
import org.apache.dolphinscheduler.remote.command.TaskExecuteRequestCommand;
import org.apache.dolphinscheduler.service.queue.entity.TaskExecutionContext;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;

/**
 * Single-threaded throughput of upstream's codec for TASK_EXECUTE_REQUEST: per frame, the
 * context is serialized with JSONUtils, wrapped, framed by NettyEncoder, deframed by
 * NettyDecoder and both JSON layers parsed back — the whole path a frame takes between a
 * Java master and a Java worker, minus the socket. The context is the spec's SHELL example
 * with a 1 KiB script, the same one the Rust benchmark uses (the first frame's hex is printed
 * so the caller can check that both sides handle the same bytes).
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
