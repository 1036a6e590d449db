/**
 * The task, holding what it needs only until it starts. p-queue keeps the functions of tasks it
 * has run until it compacts its array (up to ~100 tasks later, or never while work keeps coming):
 * a task that held its batch kept ~100 batches of refs (25,000 measured) and their folder's index.
 */
export function once(task: () => Promise<void>): () => Promise<void> {
  let held: (() => Promise<void>) | undefined = task;
  return () => {
    const t = held!;
    held = undefined;
    return t();
  };
}
