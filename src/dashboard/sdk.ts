// The client SDK, for the dashboard's modules. The server answers /dashboard/sdk.ts with the SDK bundle
// (src/client/browser-bundle.ts), which exports these same names; this file exists for the type checker.
export { readSse, TaskhubClient, TaskhubHttpError } from '../client/index.ts';
