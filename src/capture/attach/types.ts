// Options, results and the one error class of the HotSpot attach client (hotspot.ts).
// Every option is documented here with its default.

/** The attach operations this client sends (HotSpot's names, at most 16 bytes each). */
export type AttachCommandName = 'threaddump' | 'dumpheap' | 'jcmd' | 'properties';

export interface AttachOptions {
  /**
   * Deadline for the whole exchange: finding the JVM, waking its attach listener, and reading
   * the complete answer. Default 60 s (heapDump: 30 min). A timeout closes our end of the
   * socket; an operation the JVM already started (a heap dump) still runs to its end there.
   */
  timeoutMs?: number;
  /**
   * How long to wait for the JVM to open its attach socket after SIGQUIT (bounded by timeoutMs).
   * Default 10 s, like the JDK's own tools.
   */
  attachTimeoutMs?: number;
  /** Cancels the exchange, like a timeout. Default: none. */
  signal?: AbortSignal;
  /** Progress, one line per step (e.g. "sent SIGQUIT to 123 …"). Default: silent. */
  log?: (message: string) => void;
}

export interface AttachCommandOptions extends AttachOptions {
  /** attachCommand only: more output than this fails the call (use attachStream). Default 64 MiB. */
  maxOutputBytes?: number;
}

export interface AttachResult {
  /** The JVM's result code: 0 is success, anything else (usually -1) a failure the output explains. */
  code: number;
  /** What the JVM wrote after the result code, decoded as UTF-8. */
  output: string;
}

export interface AttachStream {
  code: number;
  /** The rest of the answer as it arrives; ends when the JVM closes the connection. */
  output: NodeJS.ReadableStream & AsyncIterable<Buffer>;
}

export interface ThreadDumpOptions extends AttachOptions {
  /** Also list the java.util.concurrent locks each thread holds (jstack -l). Default false. */
  locks?: boolean;
  /** Extended thread information (jstack -e; JDK 11+, ignored by older JVMs). Default false. */
  extended?: boolean;
}

export interface HeapDumpOptions extends AttachOptions {
  /** Only reachable objects; the JVM runs a full GC first. Default false: every object, no forced GC. */
  live?: boolean;
  /** gzip level 1..9, written by the JVM itself (JDK 15+; older JVMs ignore it). Default: uncompressed. */
  gzipLevel?: number;
}

export interface HeapDumpResult {
  /** The dump as the JVM named it (inside the JVM's own filesystem view). */
  file: string;
  /** The same file as this process reaches it (differs when the JVM runs in another mount namespace). */
  localPath: string;
  size: number;
  /** Whether the file is gzip-compressed (1f 8b) rather than a plain "JAVA PROFILE" hprof. */
  compressed: boolean;
  /** The JVM's own words, e.g. "Heap dump file created [123 bytes in 0.005 secs]". */
  output: string;
}

export type AttachFailure =
  /** A bad argument or option from the caller. */
  | 'usage'
  /** No process with that pid, or it exited (or became a zombie) during the attach. */
  | 'no-such-process'
  /** The process is not a HotSpot JVM (no libjvm.so mapped, or OpenJ9). */
  | 'not-a-jvm'
  /** The JVM was started with -XX:+DisableAttachMechanism (read from its hsperfdata). */
  | 'attach-disabled'
  /** The JVM has no SIGQUIT handler (-Xrs, or still starting): SIGQUIT would kill it, so none is sent. */
  | 'no-sigquit-handler'
  /** Our user/group cannot talk to the JVM, or a file in the way is not the JVM's. */
  | 'permission'
  /** The JVM accepted the connection and closed it without answering (it checks our uid and gid). */
  | 'refused'
  /** The answer did not follow the attach protocol. */
  | 'protocol'
  /** The JVM answered with a failure (heapDump, threadDump, jcmd); the output explains. */
  | 'command-failed'
  | 'timeout'
  | 'aborted';

/** Every failure of the attach client: what failed, on which pid, and what to do next. */
export class AttachError extends Error {
  override name = 'AttachError';
  readonly reason: AttachFailure;
  readonly pid: number | undefined;
  /** For 'command-failed': the JVM's result code and output. */
  readonly result: AttachResult | undefined;
  constructor(reason: AttachFailure, message: string, context: { pid?: number; cause?: unknown; result?: AttachResult } = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.reason = reason;
    this.pid = context.pid;
    this.result = context.result;
  }
}
