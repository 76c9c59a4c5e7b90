/** Whether the promise settled within `ms` and before `giveUp` resolved (it is left to run either way). */
export async function settlesWithin(p: Promise<unknown>, ms: number, giveUp?: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      late,
      ...(giveUp ? [giveUp.then(() => false as const)] : []),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
