import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Told the operation about to run (name null when anonymous): the management request's trace records it. */
export type OperationReporter = (name: string | null, type: string) => void;

/** Calls the server context's `onOperation` when a document executes (after parse, validation and limits). */
export function operationReportPlugin(): Plugin<{ onOperation?: OperationReporter | undefined }> {
  return {
    onExecute({ args }) {
      const report = (args.contextValue as { onOperation?: OperationReporter | undefined }).onOperation;
      if (report === undefined) return;
      const operation = getOperationAST(args.document, args.operationName);
      if (operation !== null && operation !== undefined) report(operation.name?.value ?? null, operation.operation);
    },
  };
}
