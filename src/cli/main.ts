// taskhub <command> [options]: every command in one visible table.
import { StoreUnavailableError, TaskhubError } from '../core/errors.ts';
import { helpText, type OptionSpecs, UsageError } from './config.ts';
import { serveCommand, serveOptions, serveSummary } from './commands/serve.ts';
import {
  followCommand,
  followOptions,
  followSummary,
  listCommand,
  listOptions,
  listSummary,
  statusCommand,
  statusOptions,
  statusSummary,
  submitCommand,
  submitOptions,
  submitSummary,
} from './commands/tasks.ts';
import { workerCommand, workerCommandOptions, workerSummary } from './commands/worker.ts';
import * as durable from './commands/durable.ts';
import * as admin from './commands/admin.ts';
import { keysCommand, keysOptions, keysSummary } from './commands/keys.ts';

interface Command {
  usage: string;
  summary: string;
  options: OptionSpecs;
  run(argv: string[]): Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  serve: { usage: 'taskhub serve [--handlers FILE] [options]', summary: serveSummary, options: serveOptions, run: serveCommand },
  worker: { usage: 'taskhub worker --handlers FILE [--url URL --token T] [options]', summary: workerSummary, options: workerCommandOptions, run: workerCommand },
  submit: { usage: 'taskhub submit TYPE [PAYLOAD] [options]', summary: submitSummary, options: submitOptions, run: submitCommand },
  status: { usage: 'taskhub status ID [options]', summary: statusSummary, options: statusOptions, run: statusCommand },
  tasks: { usage: 'taskhub tasks [options]', summary: listSummary, options: listOptions, run: listCommand },
  follow: { usage: 'taskhub follow ID [options]', summary: followSummary, options: followOptions, run: followCommand },
  signal: { usage: 'taskhub signal ID NAME [DATA] [options]', summary: durable.signalSummary, options: durable.signalOptions, run: durable.signalCommand },
  recover: { usage: 'taskhub recover ID [--from-version N] [options]', summary: durable.recoverSummary, options: durable.recoverOptions, run: durable.recoverCommand },
  derive: { usage: 'taskhub derive ID [--payload JSON] [--from-checkpoint latest|N] [options]', summary: durable.deriveSummary, options: durable.deriveOptions, run: durable.deriveCommand },
  publish: { usage: 'taskhub publish TOPIC [PAYLOAD] [options]', summary: admin.publishSummary, options: admin.publishOptions, run: admin.publishCommand },
  subscriptions: { usage: 'taskhub subscriptions [list | put NAME | delete NAME] [options]', summary: admin.subscriptionsSummary, options: admin.subscriptionsOptions, run: admin.subscriptionsCommand },
  schedules: { usage: 'taskhub schedules [list | put NAME | delete NAME] [options]', summary: admin.schedulesSummary, options: admin.schedulesOptions, run: admin.schedulesCommand },
  queues: { usage: 'taskhub queues [list | pause NAME | resume NAME | limit NAME] [options]', summary: admin.queuesSummary, options: admin.queuesOptions, run: admin.queuesCommand },
  types: { usage: 'taskhub types [list | put TYPE | delete TYPE] [options]', summary: admin.typesSummary, options: admin.typesOptions, run: admin.typesCommand },
  keys: { usage: 'taskhub keys [list | create --owner NAME --scopes a,b [--name N] | revoke ID] [--json]', summary: keysSummary, options: keysOptions, run: keysCommand },
};

function overview(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: taskhub <command> [options]\n\ncommands:\n${rows.join('\n')}\n\nRun \`taskhub <command> --help\` for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`taskhub: unknown command "${name}"\n\n${overview()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpText(command.usage, command.summary, command.options));
    return 0;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`taskhub ${name}: ${error.message}\n(see taskhub ${name} --help)\n`);
      return 2;
    }
    if (error instanceof StoreUnavailableError || error instanceof TaskhubError) {
      process.stderr.write(`taskhub ${name}: ${error.message}\n`);
      return 1;
    }
    const detail = (error as { detail?: string }).detail;
    process.stderr.write(`taskhub ${name}: ${detail ?? (error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

// `taskhub tasks | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const code = await main(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
