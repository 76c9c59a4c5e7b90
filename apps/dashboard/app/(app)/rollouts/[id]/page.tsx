import { notFound } from 'next/navigation';
import { z } from 'zod';
import { RolloutDetail } from '@/components/rollout-detail';

export default async function RolloutPage({ params }: PageProps<'/rollouts/[id]'>) {
  const { id } = await params;
  // Rollout ids are UUIDs; anything else cannot name one.
  if (!z.uuid().safeParse(id).success) notFound();
  return <RolloutDetail id={id} />;
}
