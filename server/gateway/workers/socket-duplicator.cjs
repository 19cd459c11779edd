// Child process of listen-socket.ts: the only way a Node process gets a second file descriptor for one socket
// (dup(2)) is to receive it over an IPC channel (SCM_RIGHTS). Given { bind: { host, port } } it binds a TCP socket
// without listening (so that nothing here ever accepts a connection); given a handle, it uses that one. Either way
// it sends the handle back `count` times, each arriving in the parent as a new descriptor, then exits.
'use strict';
const { TCP, constants } = process.binding('tcp_wrap');

function fail(code) {
  process.send({ error: code }, () => process.exit(0));
}

// `on`, not `once`: the IPC channel keeps this process alive only while a listener is attached, and the copies
// wait on the parent's acknowledgements.
process.on('message', (message, received) => {
  let handle = received;
  if (handle === undefined) {
    handle = new TCP(constants.SERVER);
    const { host, port, family } = message.bind;
    const code = family === 6 ? handle.bind6(host, port, 0) : handle.bind(host, port);
    if (code !== 0) return fail(code);
  }
  for (let i = 0; i < message.count; i++) process.send({ copy: i }, handle);
  process.send({ done: true }, () => process.exit(0));
});
