// An error that already knows its HTTP answer: thrown by the checks the server makes itself (the body parser, the
// URL hook, routes), and turned into problem details by errors.ts like any other error.

export class HttpProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, detail: string, field?: string) {
    super(detail);
    this.name = 'HttpProblem';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}
