// respond: answers the request itself with the route's configured status, body and headers; the upstream is never
// called (a mock, a maintenance notice, a stub). The reply is encoded once at configure time, so a request costs
// one route lookup and one send_local_response. Plugin configuration: docs/policies.md#respond.
import { indexPath, memberPath, objectEntries, Problems, readArray, readInteger, readObject, readString } from "../lib/config";
import { readHeaderItems, serializePairs } from "../lib/headers";
import { JsonValue } from "../lib/json";
import { PolicyRoot, PolicyStream } from "../lib/policy-root";
import { sendEncodedReply } from "../lib/reply";
import { HttpContext, registerRootContext, RootContext } from "../lib/runtime";

const DETAILS = String.UTF8.encode("apip_respond");

/** One route's reply, encoded for send_local_response. */
class Reply {
  constructor(public status: u32, public body: ArrayBuffer, public pairs: ArrayBuffer) {}
}

/** Statuses whose response has no body (RFC 9110 §6.4.1): a body there is refused, not silently dropped. */
function isBodyless(status: u32): bool {
  return status == 204 || status == 304;
}

function readReply(entry: JsonValue, path: string, problems: Problems): Reply {
  const status = <u32>readInteger(entry, "statusCode", path, problems, false, 200, 200, 599);
  const body = readString(entry, "body", path, problems, false);
  if (body.length > 0 && isBodyless(status)) problems.add(memberPath(path, "body"), "must be empty with status " + status.toString());
  const headers = readHeaderItems(readArray(entry, "headers", path, problems, false), path, problems);
  for (let i = 0; i < headers.length; i++) {
    // The data plane frames the reply itself: a configured length or coding would contradict it.
    const name = unchecked(headers[i]).name;
    if (name == "content-length" || name == "transfer-encoding") {
      problems.add(memberPath(indexPath(memberPath(path, "headers"), i), "name"), "is not a header a reply may set");
    }
  }
  return new Reply(status, String.UTF8.encode(body), serializePairs(headers));
}

class RespondRoot extends PolicyRoot<Reply> {
  onConfigure(configuration: ArrayBuffer): bool {
    return this.configure("respond", configuration);
  }

  readRoutes(config: JsonValue, problems: Problems): Map<string, Reply> {
    const routes = new Map<string, Reply>();
    const entries = objectEntries(readObject(config, "routes", "$", problems, true), "$.routes", problems);
    while (entries.next()) routes.set(entries.name, readReply(entries.value, entries.path, problems));
    return routes;
  }

  createHttpContext(contextId: u32): HttpContext {
    return new RespondStream(contextId, this);
  }
}

class RespondStream extends PolicyStream<RespondRoot> {
  onRequestHeaders(numHeaders: u32, endOfStream: bool): u32 {
    const policy = this.policy;
    const reply = policy.enterRequest();
    if (reply === null) return policy.skipAction;
    return sendEncodedReply(reply.status, DETAILS, reply.body, reply.pairs);
  }
}

registerRootContext((contextId: u32): RootContext => new RespondRoot());

export * from "../lib/exports";
