import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const packageJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };

/** This tool's name and version, recorded in every manifest. */
export const TOOL = { name: packageJson.name, version: packageJson.version };
