import { ForbiddenError, ValidationError } from '../../domain/errors.ts';
import type { IssuedCertificate } from '../../domain/certificate-issuer.ts';
import { issueDataPlaneCertificate } from '../../domain/data-planes.ts';
import { builder } from '../builder.ts';

const IssueDataPlaneCertificatePayload = builder
  .objectRef<IssuedCertificate & { nodeId: string }>('IssueDataPlaneCertificatePayload')
  .implement({
    description: 'A data plane\'s client certificate for the xDS port. The private key is in this answer only: it is not stored anywhere.',
    fields: (t) => ({
      nodeId: t.exposeString('nodeId', { description: 'The node id the certificate names; the data plane must present this id.' }),
      certificate: t.exposeString('certificate', { description: 'PEM.' }),
      privateKey: t.exposeString('privateKey', { description: 'PKCS#8 PEM. Shown once.' }),
      caCertificate: t.exposeString('caCertificate', { description: 'The platform CA (PEM) that validates the control plane\'s server certificate.' }),
      serialNumber: t.exposeString('serialNumber'),
      expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    }),
  });

builder.mutationField('issueDataPlaneCertificate', (t) =>
  t.fieldWithInput({
    type: IssueDataPlaneCertificatePayload,
    authScopes: { admin: true },
    description: 'Issues a client certificate for an Envoy or `npm run gateway` to connect to the xDS port (mutual TLS). Admins only; audited without the key.',
    errors: { types: [ValidationError, ForbiddenError] },
    input: {
      nodeId: t.input.string({ description: '1-128 characters: letters, digits, ".", "_", "-".' }),
      validityDays: t.input.int({ required: false, description: '1..825, default 365.' }),
    },
    resolve: async (_root, { input }, ctx) => ({ nodeId: input.nodeId, ...(await issueDataPlaneCertificate(ctx.domain, input)) }),
  }),
);
