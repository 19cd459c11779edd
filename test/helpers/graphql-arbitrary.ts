import fc from 'fast-check';
import {
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';

/** Strings that tend to find edge cases in validators: empty, whitespace, reserved characters, huge. */
const nastyString = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', ' ', '/', '//', '$version', '../', '{id}', '{', 'GET', 'v1', 'v1.0.0', 'http://', 'https://127.0.0.1:1'),
  fc.constantFrom('\u0000', "'; drop table apis; --", '😀', 'a'.repeat(300), 'apip_' + '0'.repeat(64)),
);

/** A fast-check arbitrary producing values of a GraphQL input type (including invalid-but-typed ones). */
export function inputArbitrary(type: GraphQLInputType, schema: GraphQLSchema, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return inputArbitrary(type.ofType, schema, depth);
  const nullable = (arb: fc.Arbitrary<unknown>) => fc.option(arb, { nil: null, freq: 5 });
  if (isListType(type)) {
    return nullable(fc.array(inputArbitrary(type.ofType, schema, depth + 1), { maxLength: depth > 2 ? 0 : 3 }));
  }
  if (isEnumType(type)) return nullable(fc.constantFrom(...type.getValues().map((v) => v.value as unknown)));
  if (isInputObjectType(type)) {
    if (depth > 4) return fc.constant(null);
    const fields = type.getFields();
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const [name, field] of Object.entries(fields)) shape[name] = inputArbitrary(field.type, schema, depth + 1);
    const required = Object.entries(fields)
      .filter(([, f]) => isNonNullType(f.type))
      .map(([name]) => name);
    return fc.record(shape, { requiredKeys: required });
  }
  if (isScalarType(type)) {
    switch (type.name) {
      case 'Int':
        return nullable(fc.oneof(fc.integer({ min: -5, max: 200 }), fc.integer()));
      case 'Float':
        return nullable(fc.double({ noNaN: true, noDefaultInfinity: true }));
      case 'Boolean':
        return nullable(fc.boolean());
      case 'ID':
        return nullable(fc.oneof(nastyString, fc.string().map((s) => Buffer.from(`Api:${s}`).toString('base64'))));
      case 'DateTime':
        return nullable(
          fc.oneof(
            fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
            nastyString,
          ),
        );
      case 'JSON':
        return fc.jsonValue({ maxDepth: 3 });
      default:
        return nullable(nastyString);
    }
  }
  return fc.constant(null);
}

/** Every mutation with the arbitrary for its arguments. */
export function mutationArbitraries(schema: GraphQLSchema): { name: string; document: string; args: fc.Arbitrary<Record<string, unknown>> }[] {
  const mutation = schema.getMutationType();
  if (!mutation) return [];
  return Object.values(mutation.getFields()).map((field) => {
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const arg of field.args) shape[arg.name] = inputArbitrary(arg.type, schema);
    const varDefs = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
    const callArgs = field.args.map((a) => `${a.name}: $${a.name}`).join(', ');
    const named = getNamedType(field.type);
    const selection = isScalarType(named) || isEnumType(named) ? '' : ' { __typename }';
    const document = `mutation Fuzz${varDefs ? `(${varDefs})` : ''} { result: ${field.name}${callArgs ? `(${callArgs})` : ''}${selection} }`;
    return { name: field.name, document, args: fc.record(shape, { requiredKeys: field.args.map((a) => a.name) }) };
  });
}
