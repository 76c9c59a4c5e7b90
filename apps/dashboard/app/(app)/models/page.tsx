import { ModelList } from '@/components/model-list';

export default function ModelsPage() {
  return <ModelList />;
}
