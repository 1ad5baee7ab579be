/** Appends `item` and keeps only the newest `max` entries (state stays bounded across continue-as-new). */
export function pushBounded<T>(list: T[], item: T, max: number): T[] {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
  return list;
}
