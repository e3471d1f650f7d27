export { run, buildProgram } from './program.js';
export { EXIT, CliError, explain, type ExitCode } from './exit.js';
export { importSession, writeConverted, writeStream, type ImportOptions, type ImportResult, type WrittenCounts } from './import.js';
export { exportSession, loadSession, type ExportOptions } from './export.js';
export { migrate, type MigrateOptions, type MigrateReport, type MigratedSession, type RefMode } from './migrate.js';
export { inspect, describeSession, type InspectOptions } from './inspect.js';
export { check, type CheckReport } from './check.js';
export type { Io } from './io.js';
export { rotateKeys, encryptionFromFlags, type RotateKeysOptions } from './rotate.js';
