// Frees a file's disk blocks that are no longer needed (a plain heap dump behind the reader
// that uploads it), so they return to the container's disk quota while the upload runs. Node
// has no fallocate(2); util-linux's `fallocate --punch-hole` (on cflinuxfs4) does it, in
// batches so the spawns stay rare. The file keeps its size; the punched range reads as zeros.
import { execFile } from 'node:child_process';

/** Punched ranges start and end on this boundary (ext4/xfs block size; a partial block would be zeroed, not freed). */
export const PUNCH_ALIGN = 4096;

export interface HolePuncherOptions {
  /** Told once, the first time punching fails (fallocate missing, a filesystem without punch support). */
  onUnavailable: (reason: string) => void;
  /** Punch once at least this many bytes behind the reader are not punched yet. */
  everyBytes?: number;
  /** One fallocate may take this long (then it is killed and punching stops). */
  timeoutMs?: number;
}

export class HolePuncher {
  readonly everyBytes: number;
  private unavailable: string | undefined;
  private readonly timeoutMs: number;

  constructor(private readonly options: HolePuncherOptions) {
    this.everyBytes = options.everyBytes ?? 16 * 1024 * 1024;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  get available(): boolean {
    return this.unavailable === undefined;
  }

  /** Punches [offset, offset + length); false when it did not (and will not again). */
  async punch(file: string, offset: number, length: number): Promise<boolean> {
    if (this.unavailable !== undefined) return false;
    const args = ['--punch-hole', '--offset', String(offset), '--length', String(length), file];
    const failure = await new Promise<string | undefined>((resolve) => {
      execFile('fallocate', args, { timeout: this.timeoutMs, killSignal: 'SIGKILL', windowsHide: true }, (error, _stdout, stderr) => {
        if (!error) return resolve(undefined);
        const code = (error as { code?: unknown }).code;
        resolve(code === 'ENOENT' ? 'fallocate (util-linux) is not on PATH'
          : error.killed ? `fallocate took longer than ${this.timeoutMs} ms`
          : `fallocate failed: ${String(stderr).trim() || error.message}`);
      });
    });
    if (failure === undefined) return true;
    if (this.unavailable === undefined) {
      this.unavailable = failure;
      this.options.onUnavailable(failure);
    }
    return false;
  }
}
