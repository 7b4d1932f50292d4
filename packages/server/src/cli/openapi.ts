#!/usr/bin/env node
/** Prints the server API's OpenAPI document (what `GET /api/v1/openapi.json` serves): `npm run -s openapi > docs/openapi.json`. */
import { openApiDocument } from '../api/openapi.js';

process.stdout.write(`${JSON.stringify(openApiDocument(), null, 2)}\n`);
