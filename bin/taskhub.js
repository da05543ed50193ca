#!/usr/bin/env node
// Thin launcher: the CLI is TypeScript, run natively by Node 24 (type stripping).
import '../src/cli/main.ts';
