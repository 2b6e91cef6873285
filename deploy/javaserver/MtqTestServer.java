// deploy/javaserver/MtqTestServer.java - runs mongo-java-server on one
// address until SIGTERM, for mtq's tests.
//
//   java [-Dmtq.log.level=warn] -cp CLASSES:LIB/* MtqTestServer --listen-addr=HOST:PORT
//        [--state-dir=DIR]
//
// deploy/db.sh compiles it at install (MTQ_DB=javaserver) and starts it like
// FerretDB: the --listen-addr and --state-dir spellings are FerretDB's, so
// that db.sh finds its own server by the same "HOST:PORT " in
// /proc/PID/cmdline.  It is a second server for the tests, one that applies
// each write to a document in one step under its collection's lock, as
// MongoDB does (FerretDB 1.x reads, then writes): it exercises mtq's MongoDB
// paths.  Without --state-dir the data lives in memory (MemoryBackend) and is
// gone when it stops; with it, in DIR/mongo-java-server.mv (H2Backend, an H2
// MVStore written in the background and on stop), for tests that restart the
// database.  Both backends share the library's collection code, locking
// included; they differ in where documents are kept.
import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

public final class MtqTestServer {
  private MtqTestServer() {}

  public static void main(String[] args) {
    String host = null;
    String stateDir = null;
    int port = -1;
    for (String arg : args) {
      if (arg.startsWith("--state-dir=")) {
        stateDir = arg.substring("--state-dir=".length());
      } else if (arg.startsWith("--listen-addr=")) {
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
    configureLog(System.getProperty("mtq.log.level", "warn"));

    MongoBackend backend = stateDir == null ? new MemoryBackend()
        : new H2Backend(stateDir + "/mongo-java-server.mv");
    MongoServer server = new MongoServer(backend);
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

  private static final Map<String, Level> LEVELS = Map.of(
      "error", Level.SEVERE, "warn", Level.WARNING, "info", Level.INFO, "debug", Level.FINE);

  // The server's log (SLF4J, through slf4j-jdk14) goes to stderr one line a
  // record: a refused command is logged with its exception, and its stack
  // trace (some 30 lines of netty) would bury the message, so only the
  // exception and where it was thrown are kept.
  private static void configureLog(String name) {
    Level level = LEVELS.get(name);
    if (level == null) {
      usage("-Dmtq.log.level must be error, warn, info or debug, not '" + name + "'");
    }
    Logger root = Logger.getLogger("");
    for (Handler h : root.getHandlers()) {
      root.removeHandler(h);
    }
    ConsoleHandler handler = new ConsoleHandler();
    handler.setLevel(Level.ALL);
    handler.setFormatter(new OneLine());
    root.addHandler(handler);
    root.setLevel(level);
  }

  private static final class OneLine extends Formatter {
    @Override
    public String format(LogRecord r) {
      // getMessage, not formatMessage: SLF4J has filled in the arguments,
      // and the JSON of a command would confuse MessageFormat.
      StringBuilder b = new StringBuilder()
          .append(Instant.ofEpochMilli(r.getMillis())).append(' ')
          .append(r.getLevel().getName()).append(' ')
          .append(r.getLoggerName()).append(": ").append(r.getMessage());
      for (Throwable t = r.getThrown(); t != null; t = t.getCause() == t ? null : t.getCause()) {
        b.append(" -- ").append(t);
        StackTraceElement[] where = t.getStackTrace();
        if (where.length > 0) {
          b.append(" (at ").append(where[0]).append(')');
        }
      }
      return b.append(System.lineSeparator()).toString();
    }
  }

  private static void usage(String why) {
    System.err.println("MtqTestServer: " + why);
    System.err.println(
        "usage: java [-Dmtq.log.level=error|warn|info|debug] -cp CLASSES:LIB/* MtqTestServer"
        + " --listen-addr=HOST:PORT [--state-dir=DIR]");
    System.exit(2);
  }
}
