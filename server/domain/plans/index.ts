/**
 * The plans aggregate: the only writer of `plans` and `plan_policies`. Closing a plan asks the subscriptions
 * aggregate to close what hangs on it.
 */
export { closePlan, createPlanVersion, deprecatePlan, publishPlan } from './lifecycle.ts';
export {
  assertPlanAcceptsSubscriptions,
  type CreatePlanInput,
  isLocked,
  type Plan,
  type PlanFilters,
  type PlanPolicy,
  type PlanPolicyInput,
  type PlanStatus,
  type PlanValidation,
  planStatuses,
  planValidations,
  type UpdatePlanInput,
} from './model.ts';
export { getPlan, servingPlanTypesOfApis, listPlans, listPlansForApis, loadPlans } from './reads.ts';
export { createPlan, deletePlan, deletePlansOfApi, updatePlan } from './writes.ts';
