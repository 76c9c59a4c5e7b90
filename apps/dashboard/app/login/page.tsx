import type { Metadata } from 'next';
import { LoginForm } from './login-form';

export const metadata: Metadata = { title: 'Sign in · Edge Fleet' };

export default function LoginPage() {
  return (
    <main className="login">
      <h1>Edge Fleet</h1>
      <p className="muted">Sign in with an operator token.</p>
      <LoginForm />
    </main>
  );
}
