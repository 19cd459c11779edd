import { configFromEnv, type PlatformConfig } from './config.ts';
import { createPlatform } from './platform.ts';
import { installProcessFaultPolicy } from './process-faults.ts';

// The only module that reads process.env or writes to stdout directly.
// Whatever the platform writes (PGlite's files and the key files under DATA_DIR included) is owner-only.
process.umask(0o077);
let config: PlatformConfig;
try {
  config = configFromEnv(process.env);
} catch (error: unknown) {
  // A refused setting (e.g. plaintext xDS on a public interface) is the operator's to fix: say what, not where.
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}
const platform = await createPlatform(config);
// From here on no single fault ends the process (docs/operations.md); a failed start above still exits.
installProcessFaultPolicy(platform.logger);
if (platform.admin.kind === 'generated') {
  process.stderr.write(
    `\nCreated admin user '${platform.admin.username}' with password: ${platform.admin.password}\n` +
      'It is shown only this once; set ADMIN_USERNAME/ADMIN_PASSWORD to choose your own.\n\n',
  );
}
process.stdout.write(`${JSON.stringify(platform.ports)}\n`);
// Beside the ports line (kept one JSON object: scripts parse it), what each port is exposed to.
const { addresses } = platform;
process.stderr.write(
  `listening: management ${addresses.management}, xds ${addresses.xds} (${platform.isXdsMutualTls ? 'mutual TLS' : 'PLAINTEXT'})` +
    `${addresses.gateway ? `, gateway ${addresses.gateway}` : ''}${addresses.gatewayAdmin ? `, gateway admin ${addresses.gatewayAdmin}` : ''}\n`,
);
if (process.env.HOST) {
  process.stderr.write('HOST is no longer read: set MANAGEMENT_HOST, XDS_HOST, GATEWAY_HOST or GATEWAY_ADMIN_HOST instead.\n');
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    platform.logger.info({ signal }, 'shutting down');
    void platform.close().then(() => process.exit(0));
  });
}
