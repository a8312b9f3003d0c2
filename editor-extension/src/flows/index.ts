/** The connection commands, one flow per module. */
export { Deps, pickConnection, uniqueName } from './common';
export { addConnection } from './addConnection';
export { chooseModel } from './chooseModel';
export { deleteConnection } from './deleteConnection';
export { editConnection } from './editConnection';
export { pullModel } from './pullModel';
export { runHistoryItems } from './runHistory';
export { askDefaultAfterAdd, makeDefault, scopeItems, selectDefaultConnection, writeDefault } from './selectDefault';
export { testConnection } from './testConnection';
