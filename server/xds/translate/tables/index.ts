import { apiKeyTables } from './api-key.ts';
import { jwtTables } from './jwt.ts';
import { oauth2Tables } from './oauth2.ts';
import type { TablesStep } from './step.ts';
import { subscriptionValidationTables } from './subscription-validation.ts';

/**
 * The kinds whose modules read tables built from the deployment model, in the order the steps run (problems are
 * reported in this order). The plan and plan-policy tables are built by api-tables.ts from the plans themselves.
 */
export const tablesSteps: readonly TablesStep[] = [apiKeyTables, jwtTables, oauth2Tables, subscriptionValidationTables];
