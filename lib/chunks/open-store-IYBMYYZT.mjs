import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-KQRVI76B.mjs";import"./chunk-MAHZ4V6J.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
