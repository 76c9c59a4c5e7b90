/** Whether `fn` resolves within `timeoutMs`: a readiness check never hangs on a dead connection. */
export async function probe(fn: () => Promise<unknown>, timeoutMs = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ok = fn().then(
    () => true,
    () => false,
  );
  const result = await Promise.race([ok, timeout]);
  clearTimeout(timer);
  return result;
}
