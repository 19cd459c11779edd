import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adsClientCredentials } from '../../../server/gateway/ads-client.ts';
import { typeUrls } from '../../../server/envoy/resources.ts';
import { shapeDrivers } from '../../helpers/database.ts';
import { basicAuth, startTestPlatform, type TestPlatform } from '../../helpers/platform.ts';
import { TestEnvoy } from '../xds/ads-client.ts';

const issueMutation = `mutation($input: IssueDataPlaneCertificateInput!) {
  issueDataPlaneCertificate(input: $input) {
    __typename
    ... on IssueDataPlaneCertificatePayload { nodeId certificate privateKey caCertificate serialNumber expiresAt }
    ... on Error { message code }
    ... on ValidationError { issues { path message } }
  }
}`;

interface Issued {
  __typename: string;
  nodeId?: string;
  certificate?: string;
  privateKey?: string;
  caCertificate?: string;
  serialNumber?: string;
  expiresAt?: string;
  code?: string;
  issues?: { path: string; message: string }[];
}

describe.each(shapeDrivers)('issueDataPlaneCertificate (%s)', (driver) => {
  let t: TestPlatform;
  const publisher = basicAuth('pia', 'pia-password-1');
  const consumer = basicAuth('cody', 'cody-password-1');

  async function issue(input: Record<string, unknown>, auth?: string | null): Promise<{ status: number; result: Issued | undefined; code: string | undefined }> {
    const res = await t.graphql<{ issueDataPlaneCertificate: Issued }>(issueMutation, { input }, auth);
    return { status: res.status, result: res.data?.issueDataPlaneCertificate, code: res.errors?.[0]?.extensions?.code };
  }

  beforeAll(async () => {
    t = await startTestPlatform(driver);
    for (const [username, role] of [['pia', 'publisher'], ['cody', 'consumer']] as const) {
      await t.graphql('mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }', {
        input: { username, password: `${username}-password-1`, role },
      });
    }
  });
  afterAll(async () => {
    await t.close();
  });

  let issued: Issued | undefined;

  it('returns a certificate for the node id, signed by the platform CA, with its key, once', async () => {
    const { result } = await issue({ nodeId: 'edge-berlin-1', validityDays: 30 });
    issued = result;
    expect(result?.__typename).toBe('IssueDataPlaneCertificatePayload');
    const certificate = new X509Certificate(result?.certificate ?? '');
    const ca = new X509Certificate(result?.caCertificate ?? '');
    expect(result?.caCertificate).toBe(t.platform.pki.caCertificate);
    expect(certificate.verify(ca.publicKey)).toBe(true);
    expect(certificate.subjectAltName).toBe('URI:spiffe://apip/data-plane/edge-berlin-1');
    expect(certificate.serialNumber.toLowerCase()).toBe(result?.serialNumber?.toLowerCase());
    const days = (Date.parse(result?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
    expect(result?.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('gets configuration over the xDS port with the issued certificate and key', async () => {
    const credentials = adsClientCredentials({ caCertificate: issued?.caCertificate ?? '', certificate: issued?.certificate ?? '', privateKey: issued?.privateKey ?? '' });
    const envoy = TestEnvoy.connect(t.platform.ports.xds ?? 0, 'edge-berlin-1', credentials);
    try {
      envoy.request({ typeUrl: typeUrls.cluster });
      expect((await envoy.next(typeUrls.cluster)).versionInfo).toBe(t.platform.snapshots.current()?.version);
    } finally {
      envoy.close();
    }
  });

  it('audits the issue with node, serial and expiry, never the key', async () => {
    const res = await t.graphql<{ auditLog: { nodes: { action: string; entityId: string; after: Record<string, unknown> }[] } }>(
      '{ auditLog(first: 50) { nodes { action entityId after } } }',
    );
    const entry = res.data?.auditLog.nodes.find((n) => n.action === 'data_plane_certificate.issue');
    expect(entry).toMatchObject({ entityId: 'edge-berlin-1', after: { nodeId: 'edge-berlin-1', serialNumber: issued?.serialNumber } });
    const body = issued?.privateKey?.split('\n')[1] ?? 'missing';
    expect(JSON.stringify(res.data)).not.toContain(body);
  });

  it('refuses a node id outside the charset or too long, and a validity out of range, naming the field', async () => {
    for (const nodeId of ['', 'edge 1', 'edge/1', '-edge', 'e'.repeat(129), '<script>']) {
      const { result } = await issue({ nodeId });
      expect(result?.__typename).toBe('ValidationError');
      expect(result?.issues?.map((i) => i.path)).toEqual(['nodeId']);
    }
    for (const validityDays of [0, -1, 826]) {
      const { result } = await issue({ nodeId: 'edge-1', validityDays });
      expect(result?.issues?.map((i) => i.path)).toEqual(['validityDays']);
    }
  });

  it('forbids publishers and consumers, and answers 401 without credentials', async () => {
    for (const auth of [publisher, consumer]) {
      const { result, code } = await issue({ nodeId: 'edge-1' }, auth);
      expect(result?.certificate).toBeUndefined();
      expect(result?.code ?? code).toBe('FORBIDDEN');
    }
    expect((await issue({ nodeId: 'edge-1' }, null)).status).toBe(401);
  });
});
