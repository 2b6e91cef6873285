// deploy/javaserver/MtqTestServer.java - runs mongo-java-server with its
// in-memory backend on one address until SIGTERM, for mtq's tests.
//
//   java -cp CLASSES:LIB/* MtqTestServer --listen-addr=HOST:PORT
//
// deploy/db.sh compiles it at install (MTQ_DB=javaserver) and starts it like
// FerretDB: the --listen-addr spelling is FerretDB's, so that db.sh finds its
// own server by the same "HOST:PORT " in /proc/PID/cmdline.  It is a second
// server for the tests, one that applies each write to a document in one
// step, as MongoDB does (FerretDB 1.x reads, then writes): it exercises mtq's
// MongoDB paths.  Its data lives in memory and is gone when it stops.
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.util.concurrent.CountDownLatch;

public final class MtqTestServer {
  private MtqTestServer() {}

  public static void main(String[] args) {
    String host = null;
    int port = -1;
    for (String arg : args) {
      if (arg.startsWith("--listen-addr=")) {
        String addr = arg.substring("--listen-addr=".length());
        int colon = addr.lastIndexOf(':');
        try {
          host = addr.substring(0, colon);
          port = Integer.parseInt(addr.substring(colon + 1));
        } catch (RuntimeException e) {
          host = null;
        }
      } else {
        usage("unknown argument '" + arg + "'");
      }
    }
    if (host == null || host.isEmpty() || port < 1 || port > 65535) {
      usage("--listen-addr=HOST:PORT is required");
    }

    MongoServer server = new MongoServer(new MemoryBackend());
    try {
      server.bind(host, port);
    } catch (RuntimeException e) {
      System.err.println("MtqTestServer: cannot listen on " + host + ":" + port + ": " + e);
      System.exit(1);
    }
    System.err.println("MtqTestServer: listening on " + host + ":" + port);

    // SIGTERM (and SIGINT) run the shutdown hooks: close every connection,
    // then let main return.  The JVM then exits 143, as a process killed by
    // SIGTERM does.
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.err.println("MtqTestServer: stopping");
      server.shutdownNow();
      stopped.countDown();
    }, "mtq-shutdown"));
    try {
      stopped.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void usage(String why) {
    System.err.println("MtqTestServer: " + why);
    System.err.println("usage: java -cp CLASSES:LIB/* MtqTestServer --listen-addr=HOST:PORT");
    System.exit(2);
  }
}
