import type { FastifyInstance } from 'fastify';
import { parse as parseYaml } from 'yaml';
import { adminError } from './errors.ts';

export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** Lets the routes of `scope` take YAML bodies (a YAML content type); bad YAML is a 400. */
export function acceptYamlBodies(scope: FastifyInstance): void {
  scope.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYaml(body as string));
    } catch (err) {
      done(
        adminError(400, 'bad_request', `the body is not valid YAML: ${(err as Error).message}`),
        undefined,
      );
    }
  });
}
