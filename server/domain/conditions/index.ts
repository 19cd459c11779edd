// Execution conditions of policy attachments (docs/execution-conditions.md).
export { compileCondition, conditionMessage, type CompiledCondition, type ConditionCheck, MAX_CONDITION_LENGTH, MAX_CONDITION_NODES, MAX_CONDITION_DEPTH } from './compile.ts';
