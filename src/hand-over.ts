/**
 * The items of `items` in order, each taken out of the array as it is yielded (the array is empty
 * at the end). A source that lists a whole folder before its first ref (POP3, Maildir) then holds
 * only the refs not yet taken: the engine puts on a ref what it learns from the message's body
 * (its Message-ID, its date), and a listing that held every ref to its end held all of that for
 * the whole copy of the folder.
 */
export function* handOver<T>(items: T[]): Generator<T, void, undefined> {
  items.reverse();
  while (items.length > 0) yield items.pop()!;
}
