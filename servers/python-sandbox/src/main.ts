#!/usr/bin/env node
import { runMain } from '@fathom/core';
import { definition } from './server.js';

runMain(definition);
