import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The project's package.json, found upwards from here: the sources and their compiled copy in dist/ sit at different depths. */
function packageJsonPath(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'package.json');
  }
  throw new Error(`no package.json above ${__dirname}`);
}

const packageJson = JSON.parse(readFileSync(packageJsonPath(), 'utf8')) as { name: string; version: string };

/** This tool's name and version, recorded in every manifest. */
export const TOOL = { name: packageJson.name, version: packageJson.version };
