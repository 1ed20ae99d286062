package dsmaster.compat.registry;

import java.io.BufferedReader;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Date;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.dolphinscheduler.common.model.Server;
import org.apache.dolphinscheduler.service.queue.MasterPriorityQueue;

/**
 * Java's master order and slot for given {@code /nodes/master} children.
 *
 * <p>Only the Java-library steps are written here: the descending sort of the children, the
 * {@code java.util.HashMap} they are put into and its iteration. Decoding is upstream's
 * {@code HeartBeat.decodeHeartBeat} (release chosen per line), the queue and the index are
 * upstream's {@code MasterPriorityQueue} from dolphinscheduler-service 2.0.5, fed with
 * upstream {@code Server} objects.
 *
 * <p>Input line: {@code version TAB localIp (TAB name TAB data)*}. Output line:
 * {@code mapOrder TAB queueOrder TAB index(localIp) TAB host=index,...} where the orders are
 * comma-joined {@code host:port} names and index is -1 when absent.
 */
final class Slots {
    private Slots() {
    }

    static int run(BufferedReader in, PrintStream out) throws Exception {
        Field queueField = MasterPriorityQueue.class.getDeclaredField("queue");
        queueField.setAccessible(true);
        String line;
        int lists = 0;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", -1);
            if (parts.length < 2 || parts.length % 2 != 0) {
                out.println("ERR\tmalformed line");
                continue;
            }
            HeartBeats hb = HeartBeats.of(parts[0]);
            String localIp = parts[1];
            List<String> children = new ArrayList<>();
            Map<String, String> data = new HashMap<>();
            for (int i = 2; i < parts.length; i += 2) {
                children.add(parts[i]);
                data.put(parts[i], parts[i + 1]);
            }

            // children(): descending String order; getServerMaps(): HashMap.putIfAbsent.
            children.sort(Comparator.reverseOrder());
            Map<String, String> serverMap = new HashMap<>();
            for (String name : children) {
                serverMap.putIfAbsent(name, data.get(name));
            }

            List<String> mapOrder = new ArrayList<>();
            List<Server> servers = new ArrayList<>();
            for (Map.Entry<String, String> e : serverMap.entrySet()) {
                mapOrder.add(e.getKey());
                Object decoded = hb.decodeHeartBeat(e.getValue());
                if (decoded == null) {
                    continue;
                }
                String[] hostAndPort = e.getKey().split(":");
                String[] hosts = hostAndPort[0].split("/");
                Server server = new Server();
                server.setHost(hosts[hosts.length - 1]);
                server.setPort(Integer.parseInt(hostAndPort[1]));
                server.setCreateTime(new Date(hb.startupTime(decoded)));
                servers.add(server);
            }

            MasterPriorityQueue queue = new MasterPriorityQueue();
            queue.putList(servers);
            List<String> queueOrder = new ArrayList<>();
            Set<String> hosts = new LinkedHashSet<>();
            Iterator<?> it = ((Iterable<?>) queueField.get(queue)).iterator();
            while (it.hasNext()) {
                Server s = (Server) it.next();
                queueOrder.add(s.getHost() + ":" + s.getPort());
                hosts.add(s.getHost());
            }
            StringBuilder index = new StringBuilder();
            for (String host : hosts) {
                if (index.length() > 0) {
                    index.append(',');
                }
                index.append(host).append('=').append(queue.getIndex(host));
            }
            out.println(String.join(",", mapOrder) + "\t" + String.join(",", queueOrder) + "\t"
                    + queue.getIndex(localIp) + "\t" + index);
            lists++;
        }
        System.err.println("slots: " + lists + " lists");
        return 0;
    }
}
