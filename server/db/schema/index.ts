export * from './users.ts';
export * from './apis.ts';
export * from './plans.ts';
export * from './applications.ts';
export * from './subscription-plans.ts';
export * from './subscriptions.ts';
export * from './api-keys.ts';
export * from './audit-log.ts';
