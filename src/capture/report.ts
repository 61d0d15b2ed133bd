// The crash report (report.json), shaped by a pure function. It is written first "in
// progress" (naming what is still uploading) and rewritten last, after every artifact is
// stored or abandoned, so it never names an artifact as stored that is not there.
import type { AppIdentity } from '../config/types.ts';
import type { ArtifactRecord } from '../store/pipeline.ts';
import type { Death } from './observed.ts';
import type { HistogramSummary } from './heap-histogram.ts';

export interface FailedArtifact {
  name: string;
  error: string;
  /** Where the evidence still is, if anywhere. */
  localPath?: string;
}

export interface ReportInput {
  app: AppIdentity;
  buildpackVersion: string;
  startedAt: Date;
  detectedAt: Date;
  /** undefined while the app still runs (a JVM that survived its OutOfMemoryError). */
  death?: Death;
  reason: string;
  /** 'in-progress': uploads still running (listed in `pending`); 'final': nothing runs any more. */
  state: 'in-progress' | 'final';
  /** Artifacts still uploading when an in-progress report was written. */
  pending: string[];
  diedAt?: Date;
  artifacts: ArtifactRecord[];
  failed: FailedArtifact[];
  store: string;
  crashPrefix: string;
  /** The app's environment, secrets removed (environment.ts). */
  environment?: Record<string, string>;
  /** Major versions of the JDKs found in the droplet. */
  javaMajors?: number[];
  /** Heap histograms computed while the dumps streamed (issue 13). */
  heapHistograms?: HistogramSummary[];
}

export function buildReport(input: ReportInput) {
  return {
    schema: 1,
    tool: `postmortem-buildpack ${input.buildpackVersion}`,
    // A kill by the container's limit names the crash even when a heap dump started it.
    reason: input.death?.reason === 'container-oom' ? 'container-oom' : input.reason,
    state: input.state,
    summary: input.death?.summary ?? 'app still running after the event',
    ...(input.death?.oom ? { oomKind: input.death.oom } : {}),
    ...(input.death?.memory ? { containerMemory: input.death.memory } : {}),
    app: {
      name: input.app.name,
      guid: input.app.guid,
      space: input.app.space,
      org: input.app.org,
      processType: input.app.processType,
      instanceIndex: input.app.instanceIndex,
      instanceGuid: input.app.instanceGuid,
      ...(input.app.instanceIp ? { instanceIp: input.app.instanceIp } : {}),
      ...(input.app.memoryLimit ? { memoryLimit: input.app.memoryLimit } : {}),
      ...(input.app.diskLimit ? { diskLimit: input.app.diskLimit } : {}),
    },
    exit: input.death
      ? { status: input.death.exitStatus, code: input.death.exitCode ?? null, signal: input.death.signal ?? null }
      : null,
    times: {
      started: input.startedAt.toISOString(),
      detected: input.detectedAt.toISOString(),
      died: input.diedAt?.toISOString() ?? null,
    },
    ...(input.environment?.JAVA_TOOL_OPTIONS || input.javaMajors?.length
      ? { jvm: { javaToolOptions: input.environment?.JAVA_TOOL_OPTIONS ?? null, javaOpts: input.environment?.JAVA_OPTS ?? null, jdkMajors: input.javaMajors ?? [] } }
      : {}),
    store: input.store,
    crash: input.crashPrefix,
    artifacts: input.artifacts.map((a) => ({
      name: a.name,
      key: a.key,
      location: a.location,
      size: a.size,
      sha256: a.sha256,
      storedSize: a.storedSize,
      storedSha256: a.storedSha256,
      compression: a.contentEncoding ?? ('none' as const),
      // complete: the evidence is whole; verified: the store holds exactly the bytes we sent.
      complete: a.complete,
      ...(a.incompleteReason ? { incompleteReason: a.incompleteReason } : {}),
      verified: a.verified,
      ...(a.unverifiedReason ? { unverifiedReason: a.unverifiedReason } : {}),
      uploadMs: a.durationMs,
    })),
    failed: input.failed,
    pending: input.pending,
    ...(input.heapHistograms?.length ? { heapHistograms: input.heapHistograms } : {}), // issue 13
    ...(input.environment ? { environment: input.environment } : {}),
  };
}

export type Report = ReturnType<typeof buildReport>;
