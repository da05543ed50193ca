// The WAL checkpointer's thread (checkpointer.ts starts it): copies committed WAL frames into the database file on a
// connection of its own, so that the copy and its fsync never run inside a commit on the event loop.
// workerData: CheckpointThreadData (the file, and the Int32Array over the slots both threads share).
import { DatabaseSync } from 'node:sqlite';
import { workerData } from 'node:worker_threads';
import { CHECKPOINT_SLOTS, type CheckpointThreadData } from './checkpointer.ts';

const { path, busyTimeoutMs, state, batchMs, restartAtFrames } = workerData as CheckpointThreadData;
const db = new DatabaseSync(path, { timeout: busyTimeoutMs });
db.exec('PRAGMA synchronous = FULL');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const { DIRTY, STOP, CHECKPOINTS, WAL_FULL } = CHECKPOINT_SLOTS;
const pause = new Int32Array(new SharedArrayBuffer(4));

while (Atomics.load(state, STOP) === 0) {
  // Asleep until a commit marks the WAL dirty (or close asks to stop), then a little longer, so that one copy takes
  // the frames of many commits.
  Atomics.wait(state, DIRTY, 0);
  if (Atomics.load(state, STOP) !== 0) break;
  Atomics.wait(pause, 0, 0, batchMs);
  Atomics.store(state, DIRTY, 0);
  const { log } = passive.get() as { log: number };
  Atomics.add(state, CHECKPOINTS, 1);
  // Frames written during a copy keep the WAL from starting over, so under writes that never pause it would grow
  // without end: past the bound, the writing thread copies the last few frames itself (Checkpointer.committed).
  if (log > restartAtFrames) Atomics.store(state, WAL_FULL, 1);
}
db.close();
