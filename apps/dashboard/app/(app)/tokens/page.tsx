import type { Metadata } from 'next';
import { TokenManager } from '@/components/token-manager';

export const metadata: Metadata = { title: 'API tokens · Edge Fleet' };

export default function TokensPage() {
  return <TokenManager />;
}
