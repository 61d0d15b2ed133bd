import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-X7ITX4EY.mjs";import"./chunk-7VN7EUTH.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
