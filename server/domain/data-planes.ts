import { requireRole } from './access/index.ts';
import { type DomainContext, write } from './context.ts';
import { type FieldIssue, ValidationError } from './errors.ts';
import type { IssuedCertificate } from './certificate-issuer.ts';

export interface IssueDataPlaneCertificateInput {
  nodeId: string;
  /** @default 365 */
  validityDays?: number | null | undefined;
}

// Node ids end up in a URI SAN, logs and metrics labels: a conservative charset keeps them unambiguous there.
const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const maxValidityDays = 825;

/** Every problem of a certificate request; shared by the GraphQL mutation and the CLI. */
export function dataPlaneCertificateIssues(input: IssueDataPlaneCertificateInput): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!nodeIdPattern.test(input.nodeId)) {
    issues.push({ path: 'nodeId', message: 'Must be 1-128 characters: letters, digits, ".", "_" or "-", starting with a letter or digit' });
  }
  const days = input.validityDays ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > maxValidityDays) {
    issues.push({ path: 'validityDays', message: `Must be a whole number of days from 1 to ${maxValidityDays}` });
  }
  return issues;
}

/**
 * Issues a data plane's client certificate for the xDS port (admins only). The private key is returned once and
 * kept nowhere; the audit entry names the node, serial and expiry, never the key.
 */
export async function issueDataPlaneCertificate(ctx: DomainContext, input: IssueDataPlaneCertificateInput): Promise<IssuedCertificate> {
  requireRole(ctx.actor, 'admin');
  const issues = dataPlaneCertificateIssues(input);
  if (issues.length > 0) throw new ValidationError(issues, 'Invalid data-plane certificate request');
  if (!ctx.dataPlaneCertificates) throw new Error('no data-plane certificate issuer configured');
  const issued = await ctx.dataPlaneCertificates.issue(input.nodeId, input.validityDays ?? 365);
  await write(ctx, ({ audit }) =>
    audit({
      action: 'data_plane_certificate.issue',
      entityType: 'data_plane',
      entityId: input.nodeId,
      after: { nodeId: input.nodeId, serialNumber: issued.serialNumber, expiresAt: issued.expiresAt.toISOString() },
    }),
  );
  return issued;
}
