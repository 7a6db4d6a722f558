/**
 * Preload (`node --import tsx --import test/faults/clock-shift.ts ...`) that moves the process's wall
 * clock as a clock jump would: while the file named by FAULT_CLOCK_FILE holds a number of
 * milliseconds, `Date.now()` and `new Date()` are that far off. Monotonic clocks are untouched, as
 * they are by a real jump. Workflow code runs in Temporal's sandbox, whose clock is the server's.
 */
import { readFileSync } from 'node:fs';

const file = process.env.FAULT_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  let offset = 0;
  const read = () => {
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      offset = 0;
    }
  };
  read();
  setInterval(read, 100).unref();
  class ShiftedDate extends RealDate {
    constructor(...args: ConstructorParameters<typeof Date> | []) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...(args as ConstructorParameters<typeof Date>));
    }
    static override now(): number {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
}
