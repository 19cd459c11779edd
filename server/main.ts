import { configFromEnv } from './config.ts';
import { createPlatform } from './platform.ts';

// The only module that reads process.env or writes to stdout directly.
// Whatever the platform writes (PGlite's files under DATA_DIR included) is owner-only.
process.umask(0o077);
const platform = await createPlatform(configFromEnv(process.env));
if (platform.admin.kind === 'generated') {
  process.stderr.write(
    `\nCreated admin user '${platform.admin.username}' with password: ${platform.admin.password}\n` +
      'It is shown only this once; set ADMIN_USERNAME/ADMIN_PASSWORD to choose your own.\n\n',
  );
}
process.stdout.write(`${JSON.stringify(platform.ports)}\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    platform.logger.info({ signal }, 'shutting down');
    void platform.close().then(() => process.exit(0));
  });
}
