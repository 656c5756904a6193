import { describe, expect, it } from 'vitest';
import { isFathomError } from '@fathom/core';
import { startModelServer } from '../../tests/fixtures/model-server.js';
import { freePort } from '../../tests/helpers.js';
import { resolveModel } from '../src/agent.js';
import { checkModelEndpoint } from '../src/llm.js';
import { fathomFailure } from '@fathom/core/testing';


describe('checkModelEndpoint', () => {
  it('takes the one model an endpoint serves when none is asked for, and checks one that is', async () => {
    const model = await startModelServer({ model: 'miromind-ai/MiroThinker-1.7-mini' });
    try {
      expect(await checkModelEndpoint({ baseUrl: model.baseUrl })).toEqual({ model: 'miromind-ai/MiroThinker-1.7-mini', served: ['miromind-ai/MiroThinker-1.7-mini'], chosen: true });
      expect(await checkModelEndpoint({ baseUrl: `${model.baseUrl}/`, model: 'miromind-ai/MiroThinker-1.7-mini' })).toMatchObject({ chosen: false });
      const wrong = await fathomFailure(checkModelEndpoint({ baseUrl: model.baseUrl, model: 'MiroThinker-1.7' }));
      expect(isFathomError(wrong, 'not_found')).toBe(true);
      expect(wrong.message).toBe(`The model endpoint ${model.baseUrl} does not serve "MiroThinker-1.7"; it serves: miromind-ai/MiroThinker-1.7-mini.`);
      expect(wrong.hint).toContain('--model');
      expect(model.listings()).toBe(3);
      expect(model.requests).toHaveLength(0);
    } finally {
      await model.close();
    }
  });

  it('lists the models when several are served and none was chosen', async () => {
    const model = await startModelServer({ models: ['a-8B', 'b-72B'] });
    try {
      const error = await fathomFailure(checkModelEndpoint({ baseUrl: model.baseUrl }));
      expect(isFathomError(error, 'invalid_config')).toBe(true);
      expect(error.message).toBe(`No model chosen, and ${model.baseUrl} serves 2: a-8B, b-72B.`);
      expect(error.hint).toContain('FATHOM_MODEL');
    } finally {
      await model.close();
    }
  });

  it('fails in seconds, with the fix, when nothing listens at the base URL', async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await fathomFailure(checkModelEndpoint({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm' }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isFathomError(error, 'unavailable')).toBe(true);
    expect(error.message).toBe(`The model endpoint cannot be reached: nothing is listening at 127.0.0.1:${port} (connection refused) (GET http://127.0.0.1:${port}/v1/models).`);
    expect(error.hint).toMatch(/sglang\.launch_server.*--base-url \(FATHOM_MODEL_BASE_URL\)/);
  });

  it('says a base URL that is not the OpenAI-compatible root is wrong, and which one to try', async () => {
    const model = await startModelServer();
    try {
      const root = model.baseUrl.replace(/\/v1$/, '');
      const error = await fathomFailure(checkModelEndpoint({ baseUrl: root, model: 'm' }));
      expect(isFathomError(error, 'not_found')).toBe(true);
      expect(error.message).toBe(`The model endpoint ${root}/models answered HTTP 404: this is not an OpenAI-compatible endpoint.`);
      expect(error.hint).toBe(`The base URL must be the OpenAI-compatible root, which usually ends in /v1: try ${root}/v1.`);
    } finally {
      await model.close();
    }
  });

  it('leaves a server that answers but fails to the retries, unless the model must be chosen from it', async () => {
    const model = await startModelServer({ modelsStatus: 503 });
    try {
      const check = await checkModelEndpoint({ baseUrl: model.baseUrl, model: 'm' });
      expect(check).toMatchObject({ model: 'm', chosen: false, served: [] });
      expect(check.warning).toBe(`The model endpoint ${model.baseUrl}/models answered HTTP 503 (Service Unavailable)`);
      const error = await fathomFailure(checkModelEndpoint({ baseUrl: model.baseUrl }));
      expect(error.message).toContain('so the model to run cannot be chosen from it');
    } finally {
      await model.close();
    }
  });
});

describe('resolveModel', () => {
  it('sets FATHOM_MODEL from the endpoint when neither it nor the config names one, and says so', async () => {
    const model = await startModelServer({ model: 'served-model' });
    try {
      const resolved = await resolveModel(undefined, { FATHOM_MODEL_BASE_URL: model.baseUrl });
      expect(resolved).toEqual({
        env: { FATHOM_MODEL_BASE_URL: model.baseUrl, FATHOM_MODEL: 'served-model' },
        model: 'served-model',
        note: `model served-model: the only one ${model.baseUrl} serves (FATHOM_MODEL is not set)`,
      });
      const named = await resolveModel({ mcpServers: {}, model: { model: 'served-model' } }, { FATHOM_MODEL_BASE_URL: model.baseUrl });
      expect(named.note).toBeUndefined();
      await expect(resolveModel(undefined, {})).rejects.toThrow(/No model endpoint/);
    } finally {
      await model.close();
    }
  });
});
